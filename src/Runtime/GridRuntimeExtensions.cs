using ExperimentGrid.Core.Training;
using ExperimentGrid.Grains;
using ExperimentGrid.Runtime.Slots;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Runtime;

public static class GridRuntimeExtensions
{
    /// <summary>The grid's grains, this silo's slot workers (one training thread per slot) and the grid's metrics.</summary>
    public static ISiloBuilder AddGridSlots(this ISiloBuilder silo, SiloSlots slots, Action<GridOptions> configure)
    {
        silo.Services.Configure(configure);
        silo.Services.AddSingleton(new SlotActivity(slots));
        silo.Services.AddSingleton(new TrainableFactory(TrialRunner.Create));
        silo.Services.AddSingleton<SlotWorkers>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<SlotWorkers>());
        silo.Services.AddSingleton<GridView>();
        silo.Services.AddSingleton<GridViewRefresher>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<GridViewRefresher>());
        silo.Services.AddSingleton<GridMetrics>();
        return silo;
    }
}
