using ExperimentGrid.Core.Sweeps;

namespace ExperimentGrid.Core.Tests.Sweeps;

/// <summary>A data root with one dataset, a model root with one model, a checkpoint root with another, and sweep files written there.</summary>
public sealed class SweepFixture : IDisposable
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("sweep-").FullName;
    public string DataRoot => Path.Combine(Directory, "data");
    public string ModelRoot => Path.Combine(Directory, "models");
    public string CheckpointRoot => Path.Combine(Directory, "checkpoints");
    public SweepRoots Roots => new(DataRoot, [ModelRoot], CheckpointRoot);

    public SweepFixture()
    {
        System.IO.Directory.CreateDirectory(Path.Combine(DataRoot, "reviews"));
        File.WriteAllText(Path.Combine(DataRoot, "reviews", "train.jsonl"), "{\"text\": \"good\", \"label\": 1}\n");
        // Model directories as a sweep sees them: only their config.json is read (TinyBert: 2 layers, 64 positions).
        foreach (var model in new[] { Path.Combine(ModelRoot, "tuned"), Path.Combine(CheckpointRoot, "pretrained") })
        {
            System.IO.Directory.CreateDirectory(model);
            TinyBert.Config().Save(Path.Combine(model, "config.json"));
        }
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    public string Write(string content, string extension = "yaml")
    {
        var path = Path.Combine(Directory, $"{Guid.NewGuid():N}.{extension}");
        File.WriteAllText(path, content);
        return path;
    }

    public SweepPlan Expand(string yaml) => SweepSpec.Load(Write(yaml)).Expand(Roots);

    /// <summary>The message of the error that expanding raises, with the file's path.</summary>
    public (string Message, string Path) Refuse(string yaml)
    {
        var path = Write(yaml);
        var error = Assert.Throws<SweepSpecException>(() => SweepSpec.Load(path).Expand(Roots));
        return (error.Message, path);
    }
}
