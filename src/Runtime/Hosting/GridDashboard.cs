using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.FileProviders;

namespace ExperimentGrid.Runtime.Hosting;

/// <summary>
/// The sweep dashboard: one page, at / (the sweeps) and at /sweeps/{id} (one sweep, polling the JSON API), and under
/// /assets its script, its style and Apache ECharts. All four are embedded in this assembly when it is built (see
/// src/Runtime/Dashboard), so a silo serves them from wherever it runs and fetches nothing.
/// </summary>
public static class GridDashboard
{
    /// <summary>The embedded resources' names start with it; the project file gives them these names.</summary>
    private const string ResourceNamespace = "ExperimentGrid.Runtime.Dashboard";

    public static WebApplication MapGridDashboard(this WebApplication app)
    {
        var files = new EmbeddedFileProvider(typeof(GridDashboard).Assembly, ResourceNamespace);
        var page = Read(files, "index.html");
        // The page routes itself by its path, so each route serves the same page.
        app.MapGet("/", () => Results.Bytes(page, "text/html; charset=utf-8"));
        app.MapGet("/sweeps/{id}", () => Results.Bytes(page, "text/html; charset=utf-8"));
        app.UseStaticFiles(new StaticFileOptions { FileProvider = files, RequestPath = "/assets" });
        return app;
    }

    private static byte[] Read(IFileProvider files, string name)
    {
        var file = files.GetFileInfo(name);
        if (!file.Exists) throw new InvalidOperationException($"the dashboard's {name} is not embedded in {typeof(GridDashboard).Assembly.GetName().Name}; rebuild it.");
        using var stream = file.CreateReadStream();
        using var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        return bytes.ToArray();
    }
}
