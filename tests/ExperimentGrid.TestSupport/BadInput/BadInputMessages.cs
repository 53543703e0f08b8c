namespace ExperimentGrid.TestSupport.BadInput;

public static class BadInputMessages
{
    public const string Elision = "…";

    /// <summary>Whether <paramref name="actual"/> holds <paramref name="expected"/>'s parts between its elisions, in order.</summary>
    public static bool Matches(string expected, string actual)
    {
        var at = 0;
        foreach (var part in expected.Split(Elision))
        {
            if (part.Length == 0) continue;
            var found = actual.IndexOf(part, at, StringComparison.Ordinal);
            if (found < 0) return false;
            at = found + part.Length;
        }
        return true;
    }
}
