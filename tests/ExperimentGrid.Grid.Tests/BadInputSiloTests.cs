using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Data;
using ExperimentGrid.TestSupport.BadInput;
using Microsoft.Extensions.DependencyInjection;

namespace ExperimentGrid.Grid.Tests;

/// <summary>
/// Every row of <see cref="BadInputs"/> that can reach a silo, submitted to one silo in turn: a sweep spec it refuses,
/// or a trial whose dataset or model directory is bad, which fails with the message. The silo trains with the real
/// trainable, on the catalog's tiny model, and after all of them it is still healthy and runs a good trial.
/// </summary>
[Collection(SiloCollection.Name)]
public sealed class BadInputSiloTests
{
    private static readonly TimeSpan TrialLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Each_bad_input_ends_in_its_message_and_the_silo_then_runs_a_good_trial()
    {
        using var directory = new TemporaryDirectory();
        var world = BadInputWorld.Create(Path.Combine(directory.Path, "world"), Path.Combine(DatasetLocator.DefaultDataRoot(), "rotten_tomatoes"));
        var options = Silos.Options(directory.Path, slots: "cpu:1") with { DataRoot = world.DataRoot, ModelRoots = [world.ModelRoot] };
        await using var silo = await Silos.StartAsync(options);
        var grains = silo.Services.GetRequiredService<IGrainFactory>();

        var cases = BadInputs.All.Where(c => c.Sweep is not null).ToList();
        var mismatches = new List<string>();
        foreach (var (input, index) in cases.Select((c, i) => (c, i)))
        {
            var (source, text) = input.Sweep!(world);
            var message = await SubmitAsync(grains, $"bad-{index:D2}", source, text);
            var expected = world.Expand(input.SiloMessage ?? input.Message);
            if (message is null || !BadInputMessages.Matches(expected, message) || message.Contains("   at ", StringComparison.Ordinal))
                mismatches.Add($"{input}:\n  expected \"{expected}\"\n  got      \"{message ?? "no error: the trial completed"}\"");
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(cases.Count >= 30, $"only {cases.Count} bad inputs reach a silo");

        using var http = new HttpClient { BaseAddress = silo.HttpAddress() };
        Assert.Equal("ok", (await http.GetStringAsync("healthz")).Trim());
        var good = grains.GetGrain<ISweepGrain>("good");
        await good.SubmitAsync(new SweepSubmission("good.yaml", world.TinySweep()));
        var end = await GridWorld.WaitForEndAsync(good, TrialLimit, grains: grains);
        Assert.Equal(TrialStatus.Completed, end.Trials.Single().Status);
        await silo.StopAsync();
    }

    /// <summary>The silo's refusal of the sweep, or the error its one trial failed with; null if the trial completed.</summary>
    private static async Task<string?> SubmitAsync(IGrainFactory grains, string id, string source, string text)
    {
        var sweep = grains.GetGrain<ISweepGrain>(id);
        try
        {
            await sweep.SubmitAsync(new SweepSubmission(source, text));
        }
        catch (SweepRejectedException e)
        {
            return e.Message;
        }
        var end = await GridWorld.WaitForEndAsync(sweep, TrialLimit, grains: grains);
        var trial = await grains.GetGrain<ITrialGrain>(TrialKeys.Format(end.SweepId, end.Trials.Single().TrialId)).GetAsync();
        return trial.Status == TrialStatus.Failed ? trial.Error : null;
    }
}
