using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ExperimentGrid.Contracts;
using ExperimentGrid.Core.Sweeps;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace ExperimentGrid.Runtime.Hosting;

/// <summary>
/// The silo's read-only JSON API, in <see cref="GridJson"/>'s records: the sweeps (paged), one sweep with every trial,
/// a trial's learning curves, and the leaderboard. A missing sweep or trial is a 404 and a bad query parameter a 400,
/// each with a JSON body whose "error" names it. Every silo answers for the whole cluster: it reads the grains.
/// </summary>
public static class GridApi
{
    public const int DefaultLimit = 100;

    /// <summary>Each sweep of a page is read from its grain, live trials included: a page stays a few hundred calls.</summary>
    public const int MaxLimit = 1000;

    /// <summary>As `grid leaderboard`'s --top.</summary>
    public const int DefaultTop = 10;

    public static IEndpointRouteBuilder MapGridApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api");
        api.MapGet("/sweeps", SweepsAsync);
        api.MapGet("/sweeps/{id}", SweepAsync);
        api.MapGet("/sweeps/{id}/trials/{trial}/curve", CurveAsync);
        api.MapGet("/leaderboard", LeaderboardAsync);
        return endpoints;
    }

    /// <summary>The sweeps in submission order, <c>?offset=</c> and <c>?limit=</c> at a time, with how many there are in all.</summary>
    private static async Task<IResult> SweepsAsync(HttpRequest request, IGrainFactory grains)
    {
        var offset = WholeNumber(request, "offset", 0, min: 0, max: int.MaxValue);
        var limit = WholeNumber(request, "limit", DefaultLimit, min: 1, max: MaxLimit);
        if ((offset.Error ?? limit.Error) is { } bad) return bad;
        var ids = await grains.GetGrain<ISweepIndexGrain>(0).ListAsync();
        var page = await Task.WhenAll(ids.Skip(offset.Value).Take(limit.Value).Select(id => grains.GetGrain<ISweepGrain>(id).GetAsync()));
        return Json(new JsonObject
        {
            ["total"] = ids.Count,
            ["offset"] = offset.Value,
            ["limit"] = limit.Value,
            ["sweeps"] = new JsonArray([.. page.Select(GridJson.SweepSummary)]),
        });
    }

    /// <summary>The sweep, its spec, and every trial as its grain has it: metrics and model path are the trial's to tell.</summary>
    private static async Task<IResult> SweepAsync(string id, IGrainFactory grains)
    {
        if (await FindSweepAsync(grains, id) is not { } sweep) return NoSweep(id);
        var trials = await Task.WhenAll(sweep.Trials.Select(async t =>
        {
            try
            {
                return await grains.GetGrain<ITrialGrain>(TrialKeys.Format(id, t.TrialId)).GetAsync();
            }
            catch (Exception e) when (ClusterFaults.IsUnreachable(e))
            {
                // Its silo is leaving: the sweep's own view of the trial stands in.
                return null;
            }
        }));
        var released = trials.OfType<TrialSnapshot>().Where(t => t.Definition is not null).ToDictionary(t => t.Definition!.TrialId);
        return Json(GridJson.Sweep(sweep, released));
    }

    private static async Task<IResult> CurveAsync(string id, string trial, IGrainFactory grains)
    {
        if (await FindSweepAsync(grains, id) is not { } sweep) return NoSweep(id);
        if (!sweep.Trials.Any(t => t.TrialId == trial)) return Error(StatusCodes.Status404NotFound, $"sweep '{id}' has no trial '{trial}'");
        var curve = await grains.GetGrain<ITrialGrain>(TrialKeys.Format(id, trial)).GetCurveAsync();
        return Json(GridJson.Curve(id, trial, curve));
    }

    /// <summary>As `grid leaderboard --json`: <c>?sweep=</c> (default every sweep's) and <c>?top=</c> (default 10).</summary>
    private static async Task<IResult> LeaderboardAsync(HttpRequest request, IGrainFactory grains)
    {
        var top = WholeNumber(request, "top", DefaultTop, min: 1, max: int.MaxValue);
        if (top.Error is { } bad) return bad;
        if (request.Query["sweep"].Count > 1) return Error(StatusCodes.Status400BadRequest, "sweep: given more than once; give one sweep, or none for every sweep's", "sweep");
        var sweep = request.Query["sweep"].FirstOrDefault() is { Length: > 0 } given ? given : null;
        if (sweep is not null && await FindSweepAsync(grains, sweep) is null) return NoSweep(sweep);
        var rows = await grains.GetGrain<ILeaderboardGrain>(LeaderboardKeys.All).RankAsync(sweep, top.Value);
        return Json(GridJson.Leaderboard(rows));
    }

    /// <summary>The sweep, or null where no sweep of that id was submitted; an id no sweep could have calls no grain.</summary>
    private static async Task<SweepSnapshot?> FindSweepAsync(IGrainFactory grains, string id)
    {
        if (!SweepNames.IsId(id)) return null;
        var sweep = await grains.GetGrain<ISweepGrain>(id).GetAsync();
        return sweep.Status == SweepStatus.Unknown ? null : sweep;
    }

    private readonly record struct Parameter(int Value, IResult? Error);

    /// <summary>A whole-number query parameter from <paramref name="min"/> to <paramref name="max"/>, <paramref name="absent"/> when not given.</summary>
    private static Parameter WholeNumber(HttpRequest request, string name, int absent, int min, int max)
    {
        var values = request.Query[name];
        if (values.Count == 0) return new Parameter(absent, null);
        if (values.Count == 1 && int.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
            return new Parameter(value, null);
        var range = max == int.MaxValue ? $"at least {min}" : $"from {min} to {max}";
        var got = values.Count == 1 ? $"got '{values[0]}'" : "given more than once";
        return new Parameter(0, Error(StatusCodes.Status400BadRequest, $"{name}: must be a whole number {range}, {got}", name));
    }

    private static IResult NoSweep(string id) => Error(StatusCodes.Status404NotFound, $"no sweep '{id}'");

    private static IResult Error(int status, string message, string? parameter = null)
    {
        var body = new JsonObject { ["error"] = message };
        if (parameter is not null) body["parameter"] = parameter;
        return Json(body, status);
    }

    private static IResult Json(JsonNode json, int status = StatusCodes.Status200OK) =>
        Results.Text(json.ToJsonString(), "application/json", Encoding.UTF8, status);
}
