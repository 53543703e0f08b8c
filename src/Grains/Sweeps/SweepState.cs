using ExperimentGrid.Grains.Trials;

namespace ExperimentGrid.Grains.Sweeps;

[GenerateSerializer]
public sealed class SweepState
{
    [Id(0)] public SweepSubmission? Submission { get; set; }
    [Id(1)] public string Name { get; set; } = "";
    [Id(2)] public SweepStatus Status { get; set; }
    [Id(3)] public DateTimeOffset SubmittedAt { get; set; }

    /// <summary>Trial ids in plan order.</summary>
    [Id(4)] public List<string> TrialIds { get; set; } = [];

    /// <summary>How many trials, in plan order, have been released to the queue: the searcher's position.</summary>
    [Id(5)] public int Released { get; set; }

    /// <summary>Each released trial's status, as its trial grain last reported it.</summary>
    [Id(6)] public Dictionary<string, TrialStatus> Trials { get; set; } = [];

    /// <summary>Every report the scheduler saw, in order: a re-activated sweep rebuilds its scheduler from them.</summary>
    [Id(7)] public List<SchedulerReport> Reports { get; set; } = [];

    [Id(8)] public Objective? Objective { get; set; }
    [Id(9)] public int? MaxConcurrentTrials { get; set; }
}
