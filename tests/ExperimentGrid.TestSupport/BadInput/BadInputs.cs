using System.Text;

namespace ExperimentGrid.TestSupport.BadInput;

public enum BadInputKind
{
    Spec,
    Dataset,
    Model,
    Flag,
    Text,
}

/// <summary>
/// One bad input the tests try, declared once: the README's "Bad input" table is rendered from these rows, the CLI
/// test runs every row's command line, and the silo test submits every row that has a sweep to a silo that must stay
/// up and run a good trial afterwards.
/// </summary>
/// <param name="Message">
/// What the user gets: the error's text (without "error: "), "{dir}" standing for the world's root and "…" for a part
/// left out (the tests find the other parts in order); for an <see cref="Accepted"/> input, the documented behaviour.
/// </param>
public sealed record BadInputCase(BadInputKind Kind, string Input, string Message)
{
    /// <summary>Writes this case's bad file(s) into the world.</summary>
    public Action<BadInputWorld>? Arrange { get; init; }

    /// <summary>The grid command line that meets the input; null for a checkpoint, which only a slot resumes from.</summary>
    public Func<BadInputWorld, string[]>? Cli { get; init; }

    /// <summary>A checkpoint that a trial resumes from, as a slot would: the trial's error is the message.</summary>
    public Func<BadInputWorld, string>? Resume { get; init; }

    /// <summary>Lines on stdin for the command, when it reads texts from "-".</summary>
    public string? Stdin { get; init; }

    public int ExitCode { get; init; } = 2;

    /// <summary>The input has a defined behaviour instead of an error: exit code 0 and <see cref="Output"/> on stdout.</summary>
    public bool Accepted { get; init; }

    public string? Output { get; init; }

    /// <summary>What a silo says where it differs from <see cref="Message"/> (the CLI's).</summary>
    public string? SiloMessage { get; init; }

    /// <summary>A sweep that carries the input to a silo, and the source name it is submitted under.</summary>
    public Func<BadInputWorld, (string Source, string Text)>? Sweep { get; init; }

    public override string ToString() => $"{Kind}: {Input}";
}

/// <summary>The catalog.</summary>
public static class BadInputs
{
    public static IReadOnlyList<BadInputCase> All { get; } = [.. Specs(), .. Datasets(), .. Models(), .. Checkpoints(), .. Flags(), .. Texts()];

    public static string KindName(BadInputKind kind) => kind switch
    {
        BadInputKind.Spec => "spec",
        BadInputKind.Dataset => "dataset",
        BadInputKind.Model => "checkpoint / model directory",
        BadInputKind.Flag => "CLI flag",
        _ => "text",
    };

    public const string TableStart = "<!-- bad-input table: rendered from tests/ExperimentGrid.TestSupport/BadInput/BadInputs.cs -->";
    public const string TableEnd = "<!-- bad-input table: end -->";

    /// <summary>The README's table, as <see cref="TableStart"/> to <see cref="TableEnd"/> hold it.</summary>
    public static string MarkdownTable()
    {
        var lines = new List<string>
        {
            TableStart,
            string.Join(", ", Enum.GetValues<BadInputKind>().Select(k => $"{KindName(k)}: {All.Count(c => c.Kind == k)}")) + $"; {All.Count} in all, {All.Count(c => c.Sweep is not null)} of them also on a silo.",
            "",
            "| kind | input | what the user gets | also on a silo |",
            "|---|---|---|---|",
        };
        lines.AddRange(All.Select(c => $"| {KindName(c.Kind)} | {Cell(c.Input)} | {(c.Accepted ? Cell(c.Message) : Code(c.Message))}{(c.SiloMessage is { } silo ? $"<br>on a silo: {Code(silo)}" : "")} | {(c.Sweep is not null ? "yes" : c.Resume is not null ? "resumed as a slot does" : "")} |"));
        lines.Add(TableEnd);
        return string.Join("\n", lines);
    }

    /// <summary>The message as the README shows it: paths relative to the world's root, lines joined by a break.</summary>
    private static string Code(string message) =>
        string.Join("<br>", message.Replace(BadInputWorld.Placeholder + "/", "", StringComparison.Ordinal).Split('\n').Select(line => $"`` {Cell(line)} ``"));

    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    // ---- sweep specs: `grid sweep run FILE` refuses them before a silo starts; a silo's SubmitAsync refuses the same text.

    private static BadInputCase Spec(string input, string file, string text, string message) => new(BadInputKind.Spec, input, message)
    {
        Arrange = world => world.WriteSpec(file, text),
        Cli = world => ["sweep", "run", world.Spec(file), "--slots", "cpu:1", "--state", Path.Combine(world.Root, "state")],
        Sweep = world => (world.Spec(file), text),
    };

    private const string Head = "name: bad\nobjective: { metric: f1 }\n";
    private const string TrialLine = "trial: { task: text-classification, model: minilm, dataset: rotten_tomatoes, epochs: 1 }\n";
    private const string GoodTrial = Head + TrialLine;

    private static IEnumerable<BadInputCase> Specs() =>
    [
        Spec("YAML syntax error (an unclosed flow list)", "unclosed.yaml", GoodTrial + "grid: { learning_rate: [1.0e-5, 3.0e-5 }\n",
            "{dir}/specs/unclosed.yaml:4: While parsing a flow sequence, did not find expected ',' or ']'."),
        Spec("JSON sweep file with an unclosed brace", "broken.json", "{\"name\": \"bad\", \"trial\": {\"epochs\": 1}",
            "{dir}/specs/broken.json:2: While parsing a flow mapping,  did not find expected ',' or '}'."),
        Spec("empty file", "empty.yaml", "",
            "{dir}/specs/empty.yaml: 2 problem(s):\n  - name: required, e.g. name: rotten-tomatoes-freeze\n  - objective: required, e.g. objective: { metric: f1, mode: max }, or a list under objectives: (metrics: loss, accuracy, f1, precision, recall, perplexity, train_seconds, trainable_parameters)"),
        Spec("unknown top-level key", "unknown-key.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\nmax_trails: 4\n",
            "{dir}/specs/unknown-key.yaml:5: unknown key 'max_trails' (keys here: name, trial, grid, random, trials, search_seed, seeds, replicates, racing, max_replicates, objective, objectives, max_concurrent_trials, retries, checkpoint_every, scheduler, searcher, max_trials, time_budget, max_failures)"),
        Spec("unknown trial field", "unknown-field.yaml", Head + "trial: { task: text-classification, learnin_rate: 3.0e-5 }\ngrid: { epochs: [1] }\n",
            "{dir}/specs/unknown-field.yaml: 1 problem(s):\n  - trial.learnin_rate (line 3): 'learnin_rate' is not a trial field (fields: task, model, dataset, …)"),
        Spec("text where a number belongs (max_concurrent_trials: many)", "wrong-type.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\nmax_concurrent_trials: many\n",
            "{dir}/specs/wrong-type.yaml:5: cannot read 'max_concurrent_trials: many' (The input string 'many' was not in a correct format.)"),
        Spec("trial field of the wrong type (epochs: three)", "epochs-three.yaml", Head + "trial: { model: minilm, dataset: rotten_tomatoes, epochs: three }\ngrid: { learning_rate: [3.0e-5] }\n",
            "{dir}/specs/epochs-three.yaml: 1 problem(s):\n  - trial.epochs (line 3): 'three' is not an integer"),
        Spec("out-of-range trial value (epochs: 0)", "epochs-zero.yaml", Head + "trial: { model: minilm, dataset: rotten_tomatoes, epochs: 0 }\ngrid: { learning_rate: [3.0e-5] }\n",
            "{dir}/specs/epochs-zero.yaml: 1 problem(s):\n  - trial.epochs (line 3): must be a positive integer, got 0"),
        Spec("out-of-range grid value (learning_rate 2.0)", "lr-range.yaml", GoodTrial + "grid:\n  learning_rate: [3.0e-5, 2.0]\n",
            "{dir}/specs/lr-range.yaml: 1 problem(s):\n  - grid.learning_rate[1] (line 5): must be in (0, 1], got 2"),
        Spec("empty grid axis", "empty-axis.yaml", GoodTrial + "grid:\n  learning_rate: []\n",
            "{dir}/specs/empty-axis.yaml: 1 problem(s):\n  - grid.learning_rate (line 5): empty list; give at least one value"),
        Spec("grid over a field that does not exist", "no-field.yaml", GoodTrial + "grid:\n  colour: [red, blue]\n",
            "{dir}/specs/no-field.yaml: 1 problem(s):\n  - grid.colour (line 5): 'colour' is not a trial field (fields: task, model, dataset, …)"),
        Spec("grid over label_names, a list", "grid-labels.yaml", GoodTrial + "grid:\n  label_names: [neg, pos]\n",
            "{dir}/specs/grid-labels.yaml: 1 problem(s):\n  - grid.label_names (line 5): label_names is a list, which cannot be varied; set it under trial:"),
        Spec("objective metric that does not exist", "bad-metric.yaml", "name: bad\n" + TrialLine + "grid: { learning_rate: [3.0e-5] }\nobjective: { metric: bleu }\n",
            "{dir}/specs/bad-metric.yaml: 1 problem(s):\n  - objective.metric (line 4): 'bleu' is not a metric (allowed: loss, accuracy, f1, precision, recall, perplexity, train_seconds, trainable_parameters)"),
        Spec("objective mode neither max nor min", "bad-mode.yaml", "name: bad\n" + TrialLine + "grid: { learning_rate: [3.0e-5] }\nobjective: { metric: f1, mode: up }\n",
            "{dir}/specs/bad-mode.yaml: 1 problem(s):\n  - objective.mode (line 4): 'up' is not a mode (allowed: max, min)"),
        Spec("unknown searcher", "bad-searcher.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\nsearcher: { type: bayes }\nmax_trials: 4\n",
            "{dir}/specs/bad-searcher.yaml: 1 problem(s):\n  - searcher.type (line 5): 'bayes' is not a searcher (allowed: space, tpe)"),
        Spec("tpe with no end (no max_trials or time_budget)", "endless-tpe.yaml", GoodTrial + "random: { learning_rate: { log_uniform: [1.0e-5, 1.0e-3] } }\nsearcher: { type: tpe }\n",
            "{dir}/specs/endless-tpe.yaml: 1 problem(s):\n  - searcher.type (line 5): tpe never runs out of configurations to suggest; give max_trials or time_budget to end the sweep"),
        Spec("replicates and seeds together", "replicates-seeds.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\nreplicates: 3\nseeds: [1, 2]\n",
            "{dir}/specs/replicates-seeds.yaml: 1 problem(s):\n  - replicates (line 5): also given seeds: at seeds (line 6); replicates: chooses the seeds (the trial's seed, then the next ones), seeds: lists them, give one"),
        Spec("racing with a single replicate", "lone-racer.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\nracing: true\n",
            "{dir}/specs/lone-racer.yaml: 1 problem(s):\n  - racing (line 5): compares confidence intervals, which need replicates: 2 or more, got 1"),
        Spec("a cost as the first of several objectives", "cost-first.yaml", "name: bad\n" + TrialLine + "grid: { freeze: [0, all] }\nobjectives:\n  - { metric: train_seconds }\n  - { metric: f1 }\n",
            "{dir}/specs/cost-first.yaml: 1 problem(s):\n  - objectives[0].metric (line 5): the first objective is judged after every epoch, and train_seconds is known only at the end; list a metric the evaluation measures first"),
        Spec("unknown scheduler", "bad-scheduler.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\nscheduler: { type: hyperband }\n",
            "{dir}/specs/bad-scheduler.yaml: 1 problem(s):\n  - scheduler.type (line 5): 'hyperband' is not a scheduler (allowed: fifo, asha, median_stopping)"),
        Spec("time_budget that is not a duration", "bad-budget.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\ntime_budget: soon\n",
            "{dir}/specs/bad-budget.yaml: 1 problem(s):\n  - time_budget (line 5): 'soon' is not a duration (e.g. 90s, 45m, 2h, 1h30m, 1d)"),
        Spec("negative retries", "negative-retries.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\nretries: -1\n",
            "{dir}/specs/negative-retries.yaml: 1 problem(s):\n  - retries (line 5): must be 0 or more, got -1"),
        Spec("log_uniform range upside down", "upside-down.yaml", GoodTrial + "random:\n  learning_rate: { log_uniform: [1.0e-3, 1.0e-5] }\ntrials: 2\n",
            "{dir}/specs/upside-down.yaml: 1 problem(s):\n  - random.learning_rate.log_uniform (line 5): low (1.0e-3) must be below high (1.0e-5)"),
        Spec("freeze deeper than the model's encoder layers", "deep-freeze.yaml", GoodTrial + "grid:\n  freeze: [0, 9]\n",
            "{dir}/specs/deep-freeze.yaml: 1 problem(s):\n  - grid.freeze[1] (line 5): 9 exceeds the 6 encoder layers of minilm; use 'all' to train only the head"),
        Spec("max_length beyond the model's position embeddings", "long-max-length.yaml", GoodTrial + "grid:\n  max_length: [128, 1024]\n",
            "{dir}/specs/long-max-length.yaml: 1 problem(s):\n  - grid.max_length[1] (line 5): 1024 exceeds the 512 positions minilm has embeddings for (max_position_embeddings)"),
    ];

    // ---- datasets: `grid train` on the tiny model reads them before its first step; a silo's trial (or its sweep's check) meets the same file.

    private static string[] Train(BadInputWorld world, string dataset, params string[] more) =>
    [
        "train", "--model", world.TinyModel, "--dataset", dataset, "--label-names", "neg,pos", "--max-length", "16", "--batch-size", "2",
        "--epochs", "1", "--test-split", "none", "--device", "cpu", "--threads", "1", "--out", Path.Combine(world.Root, "runs", Path.GetFileName(dataset)), .. more,
    ];

    private static BadInputCase Dataset(string input, string name, string file, string train, string message, BadInputKind kind = BadInputKind.Dataset) =>
        Dataset(input, name, file, Encoding.UTF8.GetBytes(train), message, kind);

    private static BadInputCase Dataset(string input, string name, string file, byte[] train, string message, BadInputKind kind = BadInputKind.Dataset) => new(kind, input, message)
    {
        Arrange = world => world.WriteDataset(name, file, train),
        Cli = world => Train(world, world.Data(name)),
        Sweep = world => ("bad-input.yaml", world.TinySweep(dataset: name)),
    };

    private static IEnumerable<BadInputCase> Datasets() =>
    [
        new(BadInputKind.Dataset, "dataset directory that does not exist", "dataset '{dir}/data/missing': no such file or directory, and no {dir}/data/missing under the data root … (datasets there: …). Pass a path, --data-root, or set EXPERIMENTGRID_DATA.")
        {
            Cli = world => Train(world, world.Data("missing")),
        },
        new(BadInputKind.Dataset, "dataset without a train split", "dataset '{dir}/data/no-train': no split 'train' in {dir}/data/no-train (looked for train with .jsonl, .csv, .parquet; found: validation.jsonl).")
        {
            Arrange = world =>
            {
                Directory.CreateDirectory(world.Data("no-train"));
                File.Copy(Path.Combine(world.Data("good"), "validation.jsonl"), Path.Combine(world.Data("no-train"), "validation.jsonl"), overwrite: true);
            },
            Cli = world => Train(world, world.Data("no-train")),
            SiloMessage = "dataset 'no-train': no split 'train' in {dir}/data/no-train (looked for train with .jsonl, .csv, .parquet; found: validation.jsonl).",
            Sweep = world => ("bad-input.yaml", world.TinySweep(dataset: "no-train")),
        },
        Dataset("malformed JSON line", "bad-json", "train.jsonl", "{\"text\": \"a good film\", \"label\": 1}\n{\"text\": \"a bad film\", \"label\": 0\n",
            "{dir}/data/bad-json/train.jsonl:2: invalid JSON at byte 34 ('0' is an invalid end of a number. Expected a delimiter.)."),
        Dataset("JSON line that is not an object", "json-array", "train.jsonl", "{\"text\": \"a good film\", \"label\": 1}\n[\"a bad film\", 0]\n",
            "{dir}/data/json-array/train.jsonl:2: expected a JSON object."),
        Dataset("missing text field", "no-text", "train.jsonl", "{\"sentence\": \"a good film\", \"label\": 1}\n",
            "{dir}/data/no-text/train.jsonl:1: no field 'text' (fields: sentence, label)."),
        Dataset("missing label field", "no-label", "train.jsonl", "{\"text\": \"a good film\", \"stars\": 1}\n",
            "{dir}/data/no-label/train.jsonl:1: no field 'label' (fields: text, stars)."),
        Dataset("text label instead of a class id", "text-label", "train.jsonl", "{\"text\": \"a good film\", \"label\": 1}\n{\"text\": \"a bad film\", \"label\": \"pos\"}\n",
            "{dir}/data/text-label/train.jsonl:2: label '\"pos\"' in field 'label' is not an integer class id."),
        Dataset("fractional label", "float-label", "train.jsonl", "{\"text\": \"a good film\", \"label\": 1.5}\n",
            "{dir}/data/float-label/train.jsonl:1: label '1.5' in field 'label' is not an integer class id."),
        Dataset("negative label", "negative-label", "train.jsonl", "{\"text\": \"a good film\", \"label\": -1}\n",
            "{dir}/data/negative-label/train.jsonl:1: label -1 is negative; class ids start at 0."),
        Dataset("label beyond label_names", "label-too-big", "train.jsonl", "{\"text\": \"a good film\", \"label\": 1}\n{\"text\": \"a bad film\", \"label\": 5}\n",
            "{dir}/data/label-too-big/train.jsonl:2: label 5 is outside the 2 classes (0..1) named by label_names.") with
        {
            SiloMessage = "bad-input.yaml: 1 problem(s):\n  - trial.label_names (line 6): 2 names, but {dir}/data/label-too-big/train.jsonl:2 has class id 5; name every class id from 0 to 5",
        },
        Dataset("text field holding a number", "number-text", "train.jsonl", "{\"text\": 42, \"label\": 1}\n",
            "{dir}/data/number-text/train.jsonl:1: field 'text' is Number, not a string."),
        Dataset("empty split file", "empty-split", "train.jsonl", "",
            "{dir}/data/empty-split/train.jsonl: no examples."),
        Dataset("CSV without the label column", "csv-no-label", "train.csv", "text,stars\na good film,1\n",
            "{dir}/data/csv-no-label/train.csv:1: no column 'label' (columns: text, stars)."),
        Dataset("CSV file without a header row (empty)", "csv-empty", "train.csv", "",
            "{dir}/data/csv-empty/train.csv:1: no header row."),
        Dataset("CSV row with a text label", "csv-text-label", "train.csv", "text,label\na good film,1\na bad film,neg\n",
            "{dir}/data/csv-text-label/train.csv:3: label 'neg' in column 'label' is not an integer class id."),
        Dataset("Parquet file that is not Parquet", "bad-parquet", "train.parquet", "this is not parquet\n",
            "{dir}/data/bad-parquet/train.parquet: not a Parquet file (not a parquet file, head: 74686973, tail: 7565740A)."),
        new(BadInputKind.Dataset, "a split file of an unsupported format", "{dir}/data/format/train.txt: unsupported format '.txt' (use .jsonl, .csv or .parquet).")
        {
            Arrange = world => world.WriteDataset("format", "train.txt", "a good film\n"),
            Cli = world => Train(world, Path.Combine(world.Data("format"), "train.txt")),
        },
        new(BadInputKind.Dataset, "--text-column naming no field", "{dir}/data/good/train.jsonl:1: no field 'review' (fields: text, label).")
        {
            Cli = world => Train(world, world.Data("good"), "--text-column", "review"),
        },
    ];

    // ---- checkpoints and model directories: `grid predict --model DIR` loads them; a silo's trial loads the same directory.

    private static BadInputCase Model(string input, string name, Action<BadInputWorld, string> breakIt, string message) => new(BadInputKind.Model, input, message)
    {
        Arrange = world => breakIt(world, world.CopyOfTinyModel(name)),
        Cli = world => ["predict", "--model", world.Model(name), "--device", "cpu", "a good film"],
        Sweep = world => ("bad-input.yaml", world.TinySweep(model: world.Model(name))),
    };

    /// <summary>A model whose config.json is bad: a silo's sweep check reads it, and names the spec's model field around the same message.</summary>
    private static BadInputCase ModelConfig(string input, string name, Action<BadInputWorld, string> breakIt, string message) =>
        Model(input, name, breakIt, message) with { SiloMessage = "bad-input.yaml: 1 problem(s):\n  - trial.model (line 4): " + message };

    private static void Rewrite(string directory, string file, Func<byte[], byte[]> change) =>
        File.WriteAllBytes(Path.Combine(directory, file), change(File.ReadAllBytes(Path.Combine(directory, file))));

    private static byte[] WithHeader(byte[] weights, Func<string, string> change)
    {
        var length = (int)BitConverter.ToInt64(weights, 0);
        var header = Encoding.UTF8.GetBytes(change(Encoding.UTF8.GetString(weights, 8, length)).PadRight(length));
        if (header.Length != length) throw new InvalidOperationException("the changed header must keep its length");
        return [.. weights[..8], .. header, .. weights[(8 + length)..]];
    }

    private static IEnumerable<BadInputCase> Models() =>
    [
        new(BadInputKind.Model, "model directory that does not exist",
            "model '{dir}/models/missing' is neither a bundled model (minilm, arctic-xs) nor an existing directory ({dir}/models/missing).")
        {
            Cli = world => ["predict", "--model", world.Model("missing"), "a good film"],
            SiloMessage = "bad-input.yaml: 1 problem(s):\n  - trial.model (line 4): '{dir}/models/missing' is neither a bundled model (minilm, arctic-xs) nor a directory under the model roots ({dir}/models, …)",
            Sweep = world => ("bad-input.yaml", world.TinySweep(model: world.Model("missing"))),
        },
        ModelConfig("no config.json", "no-config", (_, d) => File.Delete(Path.Combine(d, "config.json")),
            "{dir}/models/no-config/config.json: model config not found."),
        ModelConfig("config.json that is not JSON", "config-not-json", (_, d) => File.WriteAllText(Path.Combine(d, "config.json"), "{ \"hidden_size\": 32,"),
            "{dir}/models/config-not-json/config.json: invalid JSON at line 1, byte 20: Expected start of a property name or value, but instead reached end of data."),
        ModelConfig("config.json without its size fields", "config-empty", (_, d) => File.WriteAllText(Path.Combine(d, "config.json"), "{\"model_type\": \"bert\"}"),
            "{dir}/models/config-empty/config.json: lacks vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size; a BERT config.json states the model's sizes."),
        ModelConfig("config.json with a text where a number belongs", "config-wrong-type", (_, d) => Rewrite(d, "config.json",
                bytes => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(bytes).Replace("\"hidden_size\": 32", "\"hidden_size\": \"big\"", StringComparison.Ordinal))),
            "{dir}/models/config-wrong-type/config.json:8: hidden_size: The JSON value could not be converted to System.Int32."),
        ModelConfig("config.json of another architecture (model_type roberta)", "config-roberta", (_, d) => Rewrite(d, "config.json",
                bytes => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(bytes).Replace("\"model_type\": \"bert\"", "\"model_type\": \"roberta\"", StringComparison.Ordinal))),
            "{dir}/models/config-roberta/config.json: model_type 'roberta' is not supported (only 'bert')."),
        ModelConfig("hidden_size not a multiple of the attention heads", "config-heads", (_, d) => Rewrite(d, "config.json",
                bytes => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(bytes).Replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5", StringComparison.Ordinal))),
            "{dir}/models/config-heads/config.json: hidden_size 32 must be a positive multiple of num_attention_heads 5."),
        Model("no model.safetensors", "no-weights", (_, d) => File.Delete(Path.Combine(d, "model.safetensors")),
            "{dir}/models/no-weights: no model.safetensors or model.safetensors.index.json."),
        Model("only a pickle checkpoint (pytorch_model.bin)", "pickle", (_, d) => File.Move(Path.Combine(d, "model.safetensors"), Path.Combine(d, "pytorch_model.bin")),
            "{dir}/models/pickle: no model.safetensors or model.safetensors.index.json. It has pytorch_model.bin, a pickle checkpoint, which is never loaded because unpickling runs code; convert it once with transformers (model.save_pretrained(dir, safe_serialization=True))."),
        Model("truncated model.safetensors (half its bytes)", "truncated", (_, d) => Rewrite(d, "model.safetensors", bytes => bytes[..(bytes.Length / 2)]),
            "{dir}/models/truncated/model.safetensors: not a valid safetensors file: tensor 'bert.encoder.layer.0.output.dense.weight' has data_offsets outside the 39640-byte data section."),
        Model("model.safetensors shorter than its 8-byte header length", "stub", (_, d) => File.WriteAllBytes(Path.Combine(d, "model.safetensors"), [1, 2, 3]),
            "{dir}/models/stub/model.safetensors: not a valid safetensors file: shorter than its 8-byte header length."),
        Model("safetensors header length beyond the file", "header-length", (_, d) => Rewrite(d, "model.safetensors", bytes => [.. BitConverter.GetBytes(1L << 40), .. bytes[8..]]),
            "{dir}/models/header-length/model.safetensors: not a valid safetensors file: header length 1099511627776 does not fit a 87904-byte file."),
        Model("safetensors header that is not JSON", "header-garbage", (_, d) => Rewrite(d, "model.safetensors", bytes => WithHeader(bytes, h => "{{{" + h[3..])),
            "{dir}/models/header-garbage/model.safetensors: not a valid safetensors file: header is not valid JSON ('{' is an invalid start of a property name. Expected a '\"'. LineNumber: 0 | BytePositionInLine: 1.)."),
        Model("safetensors header with a number where the dtype belongs", "header-dtype", (_, d) => Rewrite(d, "model.safetensors",
                bytes => WithHeader(bytes, h => h.Replace("\"dtype\":\"F32\"", "\"dtype\":32   ", StringComparison.Ordinal))),
            "{dir}/models/header-dtype/model.safetensors: not a valid safetensors file: tensor 'bert.embeddings.LayerNorm.bias' has a malformed entry (An element of type 'Number' cannot be converted to a 'System.String'.)."),
        Model("tensor of an unsupported dtype", "header-f8", (_, d) => Rewrite(d, "model.safetensors",
                bytes => WithHeader(bytes, h => h.Replace("\"dtype\":\"F32\"", "\"dtype\":\"F8\" ", StringComparison.Ordinal))),
            "{dir}/models/header-f8/model.safetensors: not a valid safetensors file: tensor 'bert.embeddings.LayerNorm.bias' has unsupported dtype F8."),
        Model("weights of another size than config.json says (wrong tensor shapes)", "wrong-shapes", (w, d) =>
            {
                var other = Path.Combine(w.Root, "other-size");
                w.SaveTinyModel(other, hiddenSize: 16);
                File.Copy(Path.Combine(other, "model.safetensors"), Path.Combine(d, "model.safetensors"), overwrite: true);
            },
            "{dir}/models/wrong-shapes: shape mismatch for 38 tensor(s): bert.embeddings.LayerNorm.bias: checkpoint [16], model [32]; bert.embeddings.LayerNorm.weight: checkpoint [16], model [32]; bert.embeddings.position_embeddings.weight: checkpoint [64, 16], model [64, 32]; bert.embeddings.token_type_embeddings.weight: checkpoint [2, 16], model [2, 32]; ..."),
        Model("no vocab.txt (or tokenizer.json)", "no-vocab", (_, d) => File.Delete(Path.Combine(d, "vocab.txt")),
            "{dir}/models/no-vocab: no tokenizer found (expected vocab.txt or tokenizer.json)."),
        Model("empty vocab.txt", "empty-vocab", (_, d) => File.WriteAllText(Path.Combine(d, "vocab.txt"), ""),
            "{dir}/models/empty-vocab/vocab.txt: empty vocabulary."),
        new(BadInputKind.Model, "an encoder without a classification head (no id2label)",
            "{dir}/models/no-labels: config.json has no id2label; it is not a trained classifier (train one with `grid train`).")
        {
            Arrange = world => Rewrite(world.CopyOfTinyModel("no-labels"), "config.json", bytes =>
            {
                var config = System.Text.Json.Nodes.JsonNode.Parse(bytes)!.AsObject();
                config.Remove("id2label");
                config.Remove("label2id");
                return Encoding.UTF8.GetBytes(config.ToJsonString());
            }),
            Cli = world => ["predict", "--model", world.Model("no-labels"), "a good film"],
        },
        new(BadInputKind.Model, "sharded index (model.safetensors.index.json) that is not JSON",
            "{dir}/models/bad-index/model.safetensors.index.json: invalid JSON at line 1, byte 17: Expected depth to be zero at the end of the JSON payload. There is an open JSON object or array that should be closed.")
        {
            Arrange = world =>
            {
                var directory = world.CopyOfTinyModel("bad-index");
                File.Delete(Path.Combine(directory, "model.safetensors"));
                File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), "{\"weight_map\": {");
            },
            Cli = world => ["predict", "--model", world.Model("bad-index"), "--device", "cpu", "a good film"],
            Sweep = world => ("bad-input.yaml", world.TinySweep(model: world.Model("bad-index"))),
        },
    ];

    // ---- checkpoints to resume from: a slot opens the trial's session from them; the message is what it logs as it drops
    //      the checkpoint and the trial starts again from step 0.

    private static BadInputCase Resume(string input, string name, Action<string> breakIt, string message) => new(BadInputKind.Model, input, message)
    {
        Arrange = world => breakIt(world.CopyOfCheckpoint(name)),
        Resume = world => world.Checkpoint(name),
    };

    private static void RewriteState(string checkpoint, Func<string, string> change) =>
        Rewrite(checkpoint, "trainer-state.json", bytes => Encoding.UTF8.GetBytes(change(Encoding.UTF8.GetString(bytes))));

    private static IEnumerable<BadInputCase> Checkpoints() =>
    [
        Resume("checkpoint without its trainer-state.json", "no-state", c => File.Delete(Path.Combine(c, "trainer-state.json")),
            "{dir}/checkpoints/no-state: not a checkpoint (no trainer-state.json)."),
        Resume("checkpoint whose trainer-state.json is cut short", "short-state", c => RewriteState(c, _ => "{\n  \"CompletedEpochs\": 1,\n  \"GlobalStep\": 2,"),
            "{dir}/checkpoints/short-state/trainer-state.json: damaged checkpoint state, line 3: Expected start of a property name or value, but instead reached end of data."),
        Resume("checkpoint made with another seed", "other-seed", c => RewriteState(c, state => state.Replace("\"Seed\": 42", "\"Seed\": 7", StringComparison.Ordinal)),
            "{dir}/checkpoints/other-seed/trainer-state.json: checkpoint was made with seed 7, this trial uses 42."),
        Resume("checkpoint from another batch size (its step outside the epoch)", "other-batch", c => RewriteState(c, state => state.Replace("\"GlobalStep\": 2", "\"GlobalStep\": 9", StringComparison.Ordinal)),
            "{dir}/checkpoints/other-batch/trainer-state.json: step 9 does not fall in epoch 2 of 2 steps; was the checkpoint made with another batch size or data slice?"),
        Resume("truncated checkpoint weights (trainable.safetensors)", "short-weights", c => Rewrite(c, "trainable.safetensors", bytes => bytes[..(bytes.Length / 2)]),
            "{dir}/checkpoints/short-weights/trainable.safetensors: not a valid safetensors file: tensor 'bert.encoder.layer.0.attention.self.key.weight' has data_offsets outside the 59824-byte data section."),
        Resume("checkpoint without its optimizer state", "no-optimizer", c => File.Delete(Path.Combine(c, "optimizer.safetensors")),
            "{dir}/checkpoints/no-optimizer/optimizer.safetensors: weights file not found."),
    ];

    // ---- command-line flags: refused before anything loads.

    private static BadInputCase Flag(string input, string[] args, string message, int exitCode = 2) =>
        new(BadInputKind.Flag, input, message) { Cli = _ => args, ExitCode = exitCode };

    private static IEnumerable<BadInputCase> Flags() =>
    [
        Flag("unknown flag (--epoch)", ["train", "--epoch", "3"], "Unrecognized command or argument '--epoch'.\nUnrecognized command or argument '3'.", exitCode: 1),
        Flag("unknown command (grid trian)", ["trian"], "Required command was not provided.\nUnrecognized command or argument 'trian'.", exitCode: 1),
        Flag("flag value of the wrong type (--epochs three)", ["train", "--epochs", "three"], "train: 1 problem(s):\n  - --epochs: 'three' is not an integer"),
        Flag("required flag missing (predict without --model)", ["predict", "a good film"], "Option '--model' is required.", exitCode: 1),
        Flag("--epochs 0", ["train", "--epochs", "0"], "train: 1 problem(s):\n  - --epochs: must be a positive integer, got 0"),
        Flag("--lr above 1", ["train", "--lr", "2"], "train: 1 problem(s):\n  - --lr: must be in (0, 1], got 2"),
        Flag("--freeze -2", ["train", "--freeze", "-2"], "train: 1 problem(s):\n  - --freeze: '-2' is not a freeze depth; use 'all', 'none' or a layer count of 0 or more"),
        Flag("--batch-size -1", ["train", "--batch-size", "-1"], "train: 1 problem(s):\n  - --batch-size: must be a positive integer, got -1"),
        Flag("--max-length 4 (below 8)", ["train", "--max-length", "4"], "train: 1 problem(s):\n  - --max-length: must be between 8 and 8192 tokens, got 4"),
        Flag("--device tpu", ["train", "--device", "tpu"], "train: 1 problem(s):\n  - --device: 'tpu' is not a device (allowed: auto, cpu, cuda, cuda:N)"),
        Flag("--precision fp8", ["train", "--precision", "fp8"], "train: 1 problem(s):\n  - --precision: 'fp8' is not a precision (allowed: fp32, bf16)"),
        Flag("--task translation", ["train", "--task", "translation"], "train: 1 problem(s):\n  - --task: 'translation' is not a task (allowed: text-classification, token-classification, masked-lm, setfit, ner, fill-mask, mlm)"),
        Flag("--threads 0", ["train", "--threads", "0"], "--threads: must be positive, got 0."),
        Flag("--config file that does not exist", ["train", "--config", "/nonexistent/trial.yaml"], "/nonexistent/trial.yaml: config file not found."),
        new(BadInputKind.Flag, "--slots tpu:1", "--slots: 'tpu:1' is not a slot; use gpu:I (the GPU with index I), gpu:IxK (K slots sharing GPU I) or cpu:N (N CPU slots), comma-separated, e.g. gpu:0,gpu:1, gpu:0x2 or cpu:2.")
        {
            Arrange = world => world.WriteSpec("good.yaml", GoodTrial + "grid: { learning_rate: [3.0e-5] }\n"),
            Cli = world => ["sweep", "run", world.Spec("good.yaml"), "--slots", "tpu:1"],
        },
        new(BadInputKind.Flag, "predict --max-length 0", "--max-length: must be between 8 and 8192 tokens, got 0")
        {
            Cli = world => ["predict", "--model", world.TinyModel, "--max-length", "0", "a good film"],
            ExitCode = 1,
        },
        new(BadInputKind.Flag, "mistyped flag among the texts of predict (--max-lenght 128)", "--max-lenght: not a flag of this command; a text that looks like a flag goes on stdin (-).")
        {
            Cli = world => ["predict", "--model", world.TinyModel, "--max-lenght", "128", "a good film"],
            ExitCode = 1,
        },
        Flag("unknown flag to embed (--bogus)", ["embed", "--bogus", "a text"], "--bogus: not a flag of this command; a text that looks like a flag goes on stdin (-).", exitCode: 1),
        Flag("fill-mask --top 0", ["fill-mask", "--model", "minilm", "--top", "0", "a [MASK] film"], "--top: must be positive, got 0."),
        Flag("leaderboard --top 0", ["leaderboard", "--top", "0", "--cluster", "127.0.0.1:1"], "--top: must be at least 1, got 0.", exitCode: 1),
    ];

    // ---- texts: empty, 100,000 characters, invalid UTF-8, in a dataset file and as input to predict.

    private static byte[] InvalidUtf8Line => [.. "{\"text\": \"a good film\", \"label\": 1}\n{\"text\": \"caf"u8, 0xE9, .. " au lait\", \"label\": 0}\n"u8];

    private static IEnumerable<BadInputCase> Texts() =>
    [
        Dataset("empty text in a dataset line", "empty-text", "train.jsonl", "{\"text\": \"a good film\", \"label\": 1}\n{\"text\": \"\", \"label\": 0}\n",
            "{dir}/data/empty-text/train.jsonl:2: empty text in 'text'.", BadInputKind.Text),
        Dataset("whitespace-only text in a CSV row", "blank-text", "train.csv", "text,label\na good film,1\n   ,0\n",
            "{dir}/data/blank-text/train.csv:3: empty text in 'text'.", BadInputKind.Text),
        Dataset("invalid UTF-8 bytes in a JSON-lines file (Latin-1 é)", "latin1-jsonl", "train.jsonl", InvalidUtf8Line,
            "{dir}/data/latin1-jsonl/train.jsonl:2: not valid UTF-8 (byte 0xE9 at column 14); save the file as UTF-8.", BadInputKind.Text),
        Dataset("invalid UTF-8 bytes in a CSV file", "latin1-csv", "train.csv", [.. "text,label\na good film,1\ncaf"u8, 0xE9, .. ",0\n"u8],
            "{dir}/data/latin1-csv/train.csv:3: not valid UTF-8 (byte 0xE9 at column 4); save the file as UTF-8.", BadInputKind.Text),
        new(BadInputKind.Text, "a 100,000-character text in a dataset", "accepted: cut to max_length tokens ([CLS] and [SEP] included) and trained on")
        {
            Arrange = world => world.WriteDataset("long-text", "train.jsonl",
                $"{{\"text\": \"{string.Join(' ', Enumerable.Repeat("good", 20_000))}.\", \"label\": 1}}\n{{\"text\": \"a bad film\", \"label\": 0}}\n"),
            Cli = world => [.. Train(world, world.Data("long-text")), "--json"],
            Accepted = true,
            Output = "\"global_step\": 1",
        },
        new(BadInputKind.Text, "empty text to predict", "text 1: empty; give each text at least one non-blank character.")
        {
            Cli = world => ["predict", "--model", world.TinyModel, "--device", "cpu", ""],
        },
        new(BadInputKind.Text, "only blank lines on stdin to predict", "texts: stdin held no text.")
        {
            Cli = world => ["predict", "--model", world.TinyModel, "--device", "cpu", "-"],
            Stdin = "\n   \n\n",
        },
        new(BadInputKind.Text, "a 100,000-character text to predict", "accepted: cut to --max-length tokens (512 by default); its label and probabilities are printed")
        {
            Cli = world => ["predict", "--model", world.TinyModel, "--device", "cpu", "--json", string.Concat(Enumerable.Repeat("a good film. ", 7_693))[..100_000]],
            Accepted = true,
            Output = "\"label\":",
        },
        new(BadInputKind.Text, "invalid UTF-8 on stdin to predict (a Latin-1 byte, read as U+FFFD)", "accepted: each invalid byte reads as U+FFFD, which the tokenizer maps to [UNK]; the text is classified")
        {
            Cli = world => ["predict", "--model", world.TinyModel, "--device", "cpu", "--json", "-"],
            Stdin = Encoding.UTF8.GetString([.. "caf"u8, 0xE9, .. " au lait, a good film\n"u8]),
            Accepted = true,
            Output = "\"label\":",
        },
        new(BadInputKind.Text, "a lone UTF-16 surrogate in a text to predict", "text 1: character 8 is half of a UTF-16 surrogate pair (U+D800), not Unicode text.")
        {
            Cli = world => ["predict", "--model", world.TinyModel, "--device", "cpu", "a good \ud800 film"],
        },
        new(BadInputKind.Text, "empty text to embed", "text 1: empty; give each text at least one non-blank character.")
        {
            Cli = _ => ["embed", "--model", "minilm", ""],
        },
    ];
}
