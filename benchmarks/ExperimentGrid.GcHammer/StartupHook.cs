using System.Globalization;

/// <summary>
/// Collects garbage and runs finalizers in a loop, in whatever process loads this assembly through DOTNET_STARTUP_HOOKS:
/// the stress run's --gc-hammer puts it into its silos. A native object that only a finalizer frees and that a libtorch
/// call still reads is then freed during the call far more often than the silo's own collections would free it, so a
/// race that takes thousands of trials to show shows in a few hundred. The runtime finds the hook by this type's name,
/// which must be StartupHook, outside any namespace.
/// </summary>
#pragma warning disable CA1050 // The runtime requires the global namespace.
internal static class StartupHook
#pragma warning restore CA1050
{
    public const string PeriodVariable = "EXPERIMENTGRID_GC_HAMMER_MS";

    public static void Initialize()
    {
        var pause = int.TryParse(Environment.GetEnvironmentVariable(PeriodVariable), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) ? ms : 1;
        var hammer = new Thread(() =>
        {
            while (true)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                Thread.Sleep(pause);
            }
        })
        {
            IsBackground = true,
            Name = "gc-hammer",
        };
        hammer.Start();
    }
}
