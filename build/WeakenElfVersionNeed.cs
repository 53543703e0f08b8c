using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Sets VER_FLG_WEAK on one version-need entry (.gnu.version_r) of ELF64 little-endian shared libraries.
// See TorchSharpNative.targets for why. Idempotent: a second run finds the flag already set.
public sealed class WeakenElfVersionNeed : Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string VersionName { get; set; } = "";
    [Required] public string HostLibrary { get; set; } = "";

    public override bool Execute()
    {
        if (File.Exists(HostLibrary) && ContainsAscii(File.ReadAllBytes(HostLibrary), VersionName))
        {
            Log.LogMessage(MessageImportance.Low, $"{HostLibrary} provides {VersionName}; no patch needed.");
            return true;
        }
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            try
            {
                var bytes = File.ReadAllBytes(path);
                var outcome = Weaken(bytes, VersionName);
                if (outcome == "patched")
                {
                    File.WriteAllBytes(path, bytes);
                    Log.LogMessage(MessageImportance.High, $"Marked {VersionName} weak in {path} (host libstdc++ lacks it).");
                }
                else
                {
                    Log.LogMessage(MessageImportance.Low, $"{path}: {outcome}.");
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentOutOfRangeException)
            {
                Log.LogError($"Could not patch {path}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    private static string Weaken(byte[] elf, string versionName)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a 64-bit little-endian ELF file");

        var sectionHeaders = checked((int)BitConverter.ToUInt64(elf, 0x28));
        int headerSize = BitConverter.ToUInt16(elf, 0x3A);
        int sectionCount = BitConverter.ToUInt16(elf, 0x3C);
        for (var s = 0; s < sectionCount; s++)
        {
            var header = sectionHeaders + s * headerSize;
            if (BitConverter.ToUInt32(elf, header + 4) != ShtGnuVerneed) continue;

            var offset = checked((int)BitConverter.ToUInt64(elf, header + 24));
            var stringTableIndex = (int)BitConverter.ToUInt32(elf, header + 40);
            var entryCount = (int)BitConverter.ToUInt32(elf, header + 44);
            var stringTable = checked((int)BitConverter.ToUInt64(elf, sectionHeaders + stringTableIndex * headerSize + 24));

            var need = offset;
            for (var n = 0; n < entryCount; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, need + 2);
                var aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (var a = 0; a < auxCount; a++)
                {
                    var name = ReadCString(elf, stringTable + (int)BitConverter.ToUInt32(elf, aux + 8));
                    if (name == versionName)
                    {
                        var flags = BitConverter.ToUInt16(elf, aux + 4);
                        if ((flags & VerFlgWeak) != 0) return "already weak";
                        var patched = BitConverter.GetBytes((ushort)(flags | VerFlgWeak));
                        elf[aux + 4] = patched[0];
                        elf[aux + 5] = patched[1];
                        return "patched";
                    }
                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }
                need += (int)BitConverter.ToUInt32(elf, need + 12);
            }
        }
        return $"no need for {versionName}";
    }

    private static string ReadCString(byte[] bytes, int start)
    {
        var end = start;
        while (bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, start, end - start);
    }

    private static bool ContainsAscii(byte[] haystack, string needle)
    {
        var pattern = Encoding.ASCII.GetBytes(needle);
        for (var i = 0; i + pattern.Length <= haystack.Length; i++)
        {
            var j = 0;
            while (j < pattern.Length && haystack[i + j] == pattern[j]) j++;
            if (j == pattern.Length) return true;
        }
        return false;
    }
}
