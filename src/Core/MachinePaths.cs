namespace ExperimentGrid.Core;

/// <summary>Where this machine keeps what the grid derives and may rebuild: imported models, the work cache.</summary>
public static class MachinePaths
{
    /// <summary>$EXPERIMENTGRID_HOME/NAME, else $XDG_CACHE_HOME/experimentgrid/NAME, else ~/.cache/experimentgrid/NAME.</summary>
    public static string Cache(string name)
    {
        var home = Environment.GetEnvironmentVariable("EXPERIMENTGRID_HOME");
        if (!string.IsNullOrWhiteSpace(home)) return Path.Combine(Path.GetFullPath(home), name);
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var cache = string.IsNullOrWhiteSpace(xdg)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache")
            : xdg;
        return Path.Combine(cache, "experimentgrid", name);
    }
}
