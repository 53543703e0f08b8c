using ExperimentGrid.Core.Caching;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Grains;
using ExperimentGrid.Runtime.Slots;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace ExperimentGrid.Runtime;

public static class GridRuntimeExtensions
{
    /// <summary>The grid's grains, this silo's slot workers (one training thread per slot) and the grid's metrics.</summary>
    public static ISiloBuilder AddGridSlots(this ISiloBuilder silo, SiloSlots slots, Action<GridOptions> configure)
    {
        silo.Services.Configure(configure);
        silo.Services.AddSingleton(new SlotActivity(slots));
        silo.Services.AddSingleton(sp =>
        {
            var grid = sp.GetRequiredService<IOptions<GridOptions>>().Value;
            return new WorkCache(grid.CacheRoot, grid.CacheMaxBytes, sp.GetRequiredService<ILoggerFactory>().CreateLogger<WorkCache>());
        });
        silo.Services.AddSingleton(sp =>
        {
            var cache = sp.GetRequiredService<WorkCache>();
            return new TrainableFactory((spec, logger, progress) => TrialRunner.Create(spec, logger, progress, cache));
        });
        silo.Services.AddSingleton<SlotWorkers>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SlotWorkers>());
        silo.Services.AddSingleton<GridView>();
        silo.Services.AddSingleton<GridViewRefresher>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<GridViewRefresher>());
        silo.Services.AddSingleton<GridMetrics>();
        return silo;
    }
}
