using System.Text;
using ExperimentGrid.Core.Modeling;
using ExperimentGrid.Core.Sweeps;
using ExperimentGrid.Core.Tokenization;
using ExperimentGrid.Core.Training;
using ExperimentGrid.Core.Trials;
using Microsoft.Extensions.Logging.Abstractions;

namespace ExperimentGrid.TestSupport.BadInput;

/// <summary>
/// A directory holding every bad input of <see cref="BadInputs"/> and the good things they are variations of: a tiny
/// trained-looking classifier (models/tiny), a tiny dataset (data/good) and rotten_tomatoes for the specs.
/// Layout: data/NAME (datasets, the data root), models/NAME (model directories), specs/NAME (sweep files).
/// </summary>
public sealed class BadInputWorld
{
    public const string Placeholder = "{dir}";

    public static readonly string[] Vocabulary =
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "film", "great", "awful", "the", "a", "##s", "plot", "."];

    public string Root { get; }

    private BadInputWorld(string root) => Root = root;

    public string DataRoot => Path.Combine(Root, "data");
    public string ModelRoot => Path.Combine(Root, "models");
    public string Data(string name) => Path.Combine(DataRoot, name);
    public string Model(string name) => Path.Combine(ModelRoot, name);
    public string Spec(string name) => Path.Combine(Root, "specs", name);
    public string TinyModel => Model("tiny");
    public string Checkpoint(string name) => Path.Combine(Root, "checkpoints", name);

    /// <summary>The trial <see cref="Checkpoint"/>("good") was written by: the tiny model on the good dataset, 2 steps an epoch.</summary>
    public TrialSpec TinyTrial => new()
    {
        Model = TinyModel,
        Dataset = Data("good"),
        LabelNames = ["neg", "pos"],
        TestSplit = null,
        MaxLength = 16,
        BatchSize = 2,
        Epochs = 2,
        Device = "cpu",
    };

    /// <summary>Resumes <see cref="TinyTrial"/> from <paramref name="checkpoint"/>, as a slot resumes a trial after a retry or a lost silo.</summary>
    public void ResumeTinyTrial(string checkpoint)
    {
        using var session = TrialSession.Open(TinyTrial, new TrialSessionOptions { ResumeFrom = checkpoint }, TrialRunner.Create, NullLogger.Instance);
    }

    /// <summary>A copy of the good checkpoint, for a case to break one file of.</summary>
    public string CopyOfCheckpoint(string name)
    {
        var path = Checkpoint(name);
        CopyDirectory(Checkpoint("good"), path);
        return path;
    }

    /// <summary>Trains <see cref="TinyTrial"/>'s first epoch and keeps its checkpoint at <paramref name="path"/>.</summary>
    private void WriteCheckpoint(string path)
    {
        var folder = new CheckpointFolder(Path.Combine(Root, "checkpoint-run"));
        using (var session = TrialSession.Open(TinyTrial, new TrialSessionOptions { Checkpoints = folder }, TrialRunner.Create, NullLogger.Instance))
            session.Run(new PauseAfterFirstEpoch());
        CopyDirectory(folder.At(2), path);
    }

    /// <summary>Pauses the trial at its first epoch's end, which keeps that epoch's checkpoint.</summary>
    private sealed class PauseAfterFirstEpoch : ITrialObserver
    {
        public void OnProgress(TrainingProgress value)
        {
        }

        public SchedulerDecision OnEpoch(EpochResult epoch, string? checkpoint) => SchedulerDecision.Pause;

        public bool OnCheckpoint(int globalStep, string checkpoint) => true;

        public bool OnCompleted(TrialResult result) => true;

        public bool OnGivenBack(int globalStep, string? checkpoint) => true;
    }

    /// <summary>Writes the good things, then each case's bad input, under <paramref name="root"/>.</summary>
    public static BadInputWorld Create(string root, string? rottenTomatoes = null)
    {
        var world = new BadInputWorld(Path.GetFullPath(root));
        Directory.CreateDirectory(Path.Combine(world.Root, "specs"));
        world.SaveTinyModel(world.TinyModel);
        world.WriteGoodDataset(world.Data("good"));
        if (rottenTomatoes is not null) CopyDirectory(rottenTomatoes, world.Data("rotten_tomatoes"));
        world.WriteCheckpoint(world.Checkpoint("good"));
        foreach (var input in BadInputs.All) input.Arrange?.Invoke(world);
        return world;
    }

    /// <summary><paramref name="text"/> with the placeholder replaced by this world's root.</summary>
    public string Expand(string text) => text.Replace(Placeholder, Root, StringComparison.Ordinal);

    /// <summary>A sweep of one tiny trial of <paramref name="model"/> on <paramref name="dataset"/>, for a silo whose data root is <see cref="DataRoot"/>.</summary>
    public string TinySweep(string? model = null, string dataset = "good") => $"""
        name: bad-input
        trial:
          task: text-classification
          model: {model ?? TinyModel}
          dataset: {dataset}
          label_names: [neg, pos]
          max_length: 16
          batch_size: 2
          epochs: 1
          test_split: none
        grid:
          learning_rate: [3.0e-5]
        objective: {"{ metric: f1 }"}
        """;

    public void SaveTinyModel(string path, int hiddenSize = 32)
    {
        var config = new BertConfig
        {
            VocabSize = Vocabulary.Length,
            HiddenSize = hiddenSize,
            NumHiddenLayers = 2,
            NumAttentionHeads = 4,
            IntermediateSize = 64,
            MaxPositionEmbeddings = 64,
        };
        config.SetLabels(["neg", "pos"]);
        TorchSharp.torch.random.manual_seed(11);
        using var model = new BertForSequenceClassification(config, labelCount: 2);
        ModelDirectory.Save(path, model, config, TextTokenizer.FromVocabulary(Vocabulary, lowerCase: true, modelMaxLength: 64));
    }

    /// <summary>A copy of the tiny model, for a case to break one file of.</summary>
    public string CopyOfTinyModel(string name)
    {
        var path = Model(name);
        CopyDirectory(TinyModel, path);
        return path;
    }

    private void WriteGoodDataset(string path)
    {
        Directory.CreateDirectory(path);
        var lines = new[] { ("a good film", 1), ("a bad movie", 0), ("great plot", 1), ("awful film", 0) }
            .Select(p => $$"""{"text": "{{p.Item1}}", "label": {{p.Item2}}}""");
        foreach (var split in new[] { "train", "validation", "test" }) File.WriteAllLines(Path.Combine(path, split + ".jsonl"), lines);
    }

    /// <summary>A dataset directory whose train split is <paramref name="train"/> (as written, bytes and all) and whose validation split is good.</summary>
    public void WriteDataset(string name, string trainFile, byte[] train)
    {
        var path = Data(name);
        Directory.CreateDirectory(path);
        File.WriteAllBytes(Path.Combine(path, trainFile), train);
        File.Copy(Path.Combine(Data("good"), "validation.jsonl"), Path.Combine(path, "validation.jsonl"), overwrite: true);
    }

    public void WriteDataset(string name, string trainFile, string train) => WriteDataset(name, trainFile, Encoding.UTF8.GetBytes(train));

    public void WriteSpec(string name, string text) => File.WriteAllText(Spec(name), text);

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
    }
}
