using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ExperimentGrid.Core.Trials;

/// <summary>
/// An enum's names as people write them in flags, files and JSON: each member's [JsonStringEnumMemberName], else its
/// kebab-case name. Parsing ignores case and takes '_' for '-', as YAML keys are written (whole_word).
/// </summary>
public static class EnumNames
{
    public static IReadOnlyList<string> Of<TEnum>() where TEnum : struct, Enum => Table<TEnum>.Names;

    public static string Name<TEnum>(TEnum value) where TEnum : struct, Enum => Table<TEnum>.ByValue[value];

    public static bool TryParse<TEnum>(string? text, out TEnum value) where TEnum : struct, Enum
    {
        var name = text?.Trim().Replace('_', '-');
        foreach (var (candidate, spelled) in Table<TEnum>.ByValue)
        {
            if (!string.Equals(spelled, name, StringComparison.OrdinalIgnoreCase)) continue;
            value = candidate;
            return true;
        }
        value = default;
        return false;
    }

    /// <summary>Read once per enum type.</summary>
    private static class Table<TEnum> where TEnum : struct, Enum
    {
        public static readonly Dictionary<TEnum, string> ByValue = Enum.GetValues<TEnum>().ToDictionary(v => v, v =>
            typeof(TEnum).GetField(v.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name
            ?? JsonNamingPolicy.KebabCaseLower.ConvertName(v.ToString()));

        public static readonly IReadOnlyList<string> Names = [.. ByValue.Values];
    }
}
