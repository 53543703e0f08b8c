using System.Globalization;
using System.Text.RegularExpressions;

namespace ExperimentGrid.Runtime.Slots;

public enum SlotKind
{
    Cpu,
    Gpu,
}

/// <summary>
/// A place one trial trains at a time: a GPU by its index, or one of the silo's CPU slots. A GPU shared by several
/// slots (packing) gives each its <paramref name="Share"/> of it, 0, 1, ...; an unshared GPU's slot has none.
/// </summary>
public sealed record Slot(SlotKind Kind, int Index, int? Share = null)
{
    /// <summary>The kind as --slots and the metrics spell it.</summary>
    public string KindName => Kind == SlotKind.Gpu ? "gpu" : "cpu";

    /// <summary>
    /// The --device a trial on this slot trains on: its own GPU, or the CPU. Never "auto", which on a GPU machine
    /// would put a CPU slot's trial on a GPU that another slot owns.
    /// </summary>
    public string Device => Kind == SlotKind.Gpu ? $"cuda:{Index}" : "cpu";

    /// <summary>gpu:0, cpu:1, or gpu:0.1 for the second slot on a shared GPU 0.</summary>
    public override string ToString() => Share is { } share ? $"{KindName}:{Index}.{share}" : $"{KindName}:{Index}";
}

/// <summary>The training slots a silo declares.</summary>
public sealed partial class SiloSlots
{
    private SiloSlots(IReadOnlyList<Slot> slots) => All = slots;

    public IReadOnlyList<Slot> All { get; }

    /// <summary>
    /// No slots: a silo that trains nothing. `grid leaderboard` and `grid sweep list|status` start one on the embedded
    /// store to read it; a silo with slots would resume the store's unfinished trials.
    /// </summary>
    public static SiloSlots None { get; } = new([]);

    /// <summary>
    /// Parses a comma-separated list: <c>gpu:I</c> is the GPU with index I, <c>gpu:IxK</c> is K slots sharing it (small
    /// trials packed on one GPU), <c>cpu:N</c> is N CPU slots. For example "cpu:2", "gpu:0,gpu:1", "gpu:0x2,gpu:1x2"
    /// or "gpu:0,cpu:1".
    /// </summary>
    /// <exception cref="FormatException">The text is not such a list; the message says which item and why.</exception>
    public static SiloSlots Parse(string text)
    {
        var slots = new List<Slot>();
        var cpuSlotsSeen = false;
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var match = ItemPattern().Match(item);
            if (!match.Success)
                throw new FormatException($"'{item}' is not a slot; use gpu:I (the GPU with index I), gpu:IxK (K slots sharing GPU I) or cpu:N (N CPU slots), comma-separated, e.g. gpu:0,gpu:1, gpu:0x2 or cpu:2.");
            var n = Number(item, match.Groups["n"].Value);
            if (match.Groups["kind"].Value == "gpu")
            {
                if (slots.Any(s => s.Kind == SlotKind.Gpu && s.Index == n)) throw new FormatException($"'{item}' is listed twice: GPU {n} is there already; give each GPU once, as gpu:{n}xK to share it.");
                var shares = match.Groups["shares"].Success ? Number(item, match.Groups["shares"].Value) : 1;
                if (shares == 0) throw new FormatException($"'{item}': a GPU shared by 0 slots trains nothing; leave it out, or share it by 1 or more.");
                slots.AddRange(shares == 1 ? [new Slot(SlotKind.Gpu, n)] : Enumerable.Range(0, shares).Select(share => new Slot(SlotKind.Gpu, n, share)));
            }
            else if (match.Groups["shares"].Success)
            {
                throw new FormatException($"'{item}': only a GPU is shared; cpu:N is N CPU slots already.");
            }
            else
            {
                if (n == 0) throw new FormatException($"'{item}': a silo with CPU slots needs at least one.");
                if (cpuSlotsSeen) throw new FormatException($"'{item}': give the CPU slots once, as one count.");
                cpuSlotsSeen = true;
                slots.AddRange(Enumerable.Range(0, n).Select(i => new Slot(SlotKind.Cpu, i)));
            }
        }
        return new SiloSlots(slots);
    }

    private static int Number(string item, string digits) =>
        int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException($"'{item}': {digits} is too large.");

    /// <summary>
    /// One slot per GPU, or one CPU slot on a machine without GPUs. GPUs are counted by the /dev/nvidiaN device nodes
    /// the NVIDIA driver creates for each GPU visible here (containers included): that needs no CUDA library, which
    /// the CPU build of the training core does not ship. Slots take CUDA's ordinals, 0 to n-1, not the nodes' numbers:
    /// a container given the host's GPU 3 has /dev/nvidia3, and CUDA calls it cuda:0. CUDA_VISIBLE_DEVICES, where set,
    /// says how many GPUs CUDA will show.
    /// </summary>
    public static SiloSlots Detect() => Detect("/dev", Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES"));

    /// <param name="cudaVisibleDevices">CUDA_VISIBLE_DEVICES, or null where it is not set.</param>
    public static SiloSlots Detect(string deviceDirectory, string? cudaVisibleDevices)
    {
        var count = cudaVisibleDevices is not null
            ? cudaVisibleDevices.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).TakeWhile(d => d != "-1").Count()
            : Directory.Exists(deviceDirectory)
                ? Directory.EnumerateFiles(deviceDirectory, "nvidia*").Count(path => GpuDevicePattern().IsMatch(Path.GetFileName(path)))
                : 0;
        return new SiloSlots(count > 0 ? [.. Enumerable.Range(0, count).Select(i => new Slot(SlotKind.Gpu, i))] : [new Slot(SlotKind.Cpu, 0)]);
    }

    public override string ToString() => string.Join(',', All);

    [GeneratedRegex(@"^(?<kind>gpu|cpu):(?<n>[0-9]+)(x(?<shares>[0-9]+))?$")]
    private static partial Regex ItemPattern();

    [GeneratedRegex(@"^nvidia(?<n>[0-9]{1,4})$")]
    private static partial Regex GpuDevicePattern();
}
