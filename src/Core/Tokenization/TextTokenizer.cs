using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace ExperimentGrid.Core.Tokenization;

/// <summary>
/// A BERT WordPiece tokenizer (Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>) configured from a Hugging Face
/// model directory: vocab.txt or tokenizer.json, and do_lower_case from tokenizer_config.json.
/// </summary>
public sealed class TextTokenizer
{
    private readonly BertTokenizer _tokenizer;
    private readonly string[] _vocabulary;

    public bool LowerCase { get; }
    public int ModelMaxLength { get; }
    public int ClsId => _tokenizer.ClassificationTokenId;
    public int SepId => _tokenizer.SeparatorTokenId;
    public int PadId => _tokenizer.PaddingTokenId;
    public int MaskId => _tokenizer.MaskingTokenId;
    public int UnknownId => _tokenizer.UnknownTokenId;
    public int VocabularySize => _vocabulary.Length;

    /// <summary>What decides how text becomes ids (vocabulary, casing): equal fingerprints tokenize alike, for the tokenized-data cache.</summary>
    public string Fingerprint => _fingerprint ??= Caching.CacheStore.Key([$"lower={LowerCase}", .. _vocabulary]);

    private string? _fingerprint;

    private TextTokenizer(string[] vocabulary, bool lowerCase, int modelMaxLength)
    {
        _vocabulary = vocabulary;
        LowerCase = lowerCase;
        ModelMaxLength = modelMaxLength;
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', vocabulary) + "\n"));
        _tokenizer = BertTokenizer.Create(stream, new BertOptions
        {
            LowerCaseBeforeTokenization = lowerCase,
            // transformers strips accents exactly when it lower-cases, unless told otherwise.
            RemoveNonSpacingMarks = lowerCase,
            ApplyBasicTokenization = true,
            IndividuallyTokenizeCjk = true,
        });
    }

    public static TextTokenizer FromVocabulary(IEnumerable<string> vocabulary, bool lowerCase, int modelMaxLength = 512) =>
        new([.. vocabulary], lowerCase, modelMaxLength);

    public static TextTokenizer FromDirectory(string directory)
    {
        var configPath = Path.Combine(directory, "tokenizer_config.json");
        var lowerCase = true;
        var maxLength = 512;
        if (File.Exists(configPath))
        {
            var config = ReadJson(configPath);
            if (config["do_lower_case"] is JsonValue lower) lowerCase = lower.GetValue<bool>();
            if (config["model_max_length"] is JsonValue max && max.TryGetValue<double>(out var m) && m is > 0 and < 1e9) maxLength = (int)m;
        }

        var vocabPath = Path.Combine(directory, "vocab.txt");
        if (File.Exists(vocabPath))
        {
            var lines = File.ReadAllLines(vocabPath);
            var count = lines.Length;
            while (count > 0 && lines[count - 1].Length == 0) count--;
            if (count == 0) throw new InvalidDataException($"{vocabPath}: empty vocabulary.");
            return new TextTokenizer(lines[..count], lowerCase, maxLength);
        }

        var tokenizerJsonPath = Path.Combine(directory, "tokenizer.json");
        if (File.Exists(tokenizerJsonPath))
        {
            var json = ReadJson(tokenizerJsonPath);
            var vocab = json["model"]?["vocab"]?.AsObject()
                ?? throw new InvalidDataException($"{tokenizerJsonPath}: no model.vocab; only WordPiece tokenizers are supported.");
            if (json["model"]?["type"]?.GetValue<string>() is { } type && type != "WordPiece")
                throw new InvalidDataException($"{tokenizerJsonPath}: model.type is '{type}'; only WordPiece tokenizers are supported.");
            var ordered = new string[vocab.Count];
            foreach (var (token, id) in vocab) ordered[id!.GetValue<int>()] = token;
            if (json["normalizer"]?["lowercase"] is JsonValue lower) lowerCase = lower.GetValue<bool>();
            return new TextTokenizer(ordered, lowerCase, maxLength);
        }
        throw new FileNotFoundException($"{directory}: no tokenizer found (expected vocab.txt or tokenizer.json).");
    }

    /// <summary>
    /// [CLS] pieces [SEP], truncated to <paramref name="maxLength"/> tokens as transformers' truncation=True does:
    /// the tail of the text is dropped and [SEP] is kept.
    /// </summary>
    public int[] Encode(string text, int maxLength)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "max length must leave room for [CLS] and [SEP]");
        var ids = _tokenizer.EncodeToIds(text, addSpecialTokens: true, considerPreTokenization: true, considerNormalization: true);
        if (ids.Count <= maxLength) return [.. ids];
        var truncated = new int[maxLength];
        for (var i = 0; i < maxLength - 1; i++) truncated[i] = ids[i];
        truncated[^1] = SepId;
        return truncated;
    }

    /// <summary>The word pieces of one pre-split word, without special tokens (is_split_into_words in transformers).</summary>
    public IReadOnlyList<int> EncodeWord(string word)
    {
        var ids = _tokenizer.EncodeToIds(word, addSpecialTokens: false, considerPreTokenization: true, considerNormalization: true);
        return ids.Count > 0 ? ids : [UnknownId];
    }

    public string TokenOf(int id) => id >= 0 && id < _vocabulary.Length ? _vocabulary[id] : "[UNK]";

    /// <summary>Writes vocab.txt, tokenizer_config.json and special_tokens_map.json, which transformers' AutoTokenizer reads.</summary>
    public void SaveTo(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "vocab.txt"), string.Join('\n', _vocabulary) + "\n");
        var config = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = LowerCase,
            ["strip_accents"] = null,
            ["tokenize_chinese_chars"] = true,
            ["model_max_length"] = ModelMaxLength,
            ["cls_token"] = "[CLS]",
            ["sep_token"] = "[SEP]",
            ["pad_token"] = "[PAD]",
            ["mask_token"] = "[MASK]",
            ["unk_token"] = "[UNK]",
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString(Indented) + "\n");
        var specials = new JsonObject
        {
            ["cls_token"] = "[CLS]",
            ["sep_token"] = "[SEP]",
            ["pad_token"] = "[PAD]",
            ["mask_token"] = "[MASK]",
            ["unk_token"] = "[UNK]",
        };
        File.WriteAllText(Path.Combine(directory, "special_tokens_map.json"), specials.ToJsonString(Indented) + "\n");
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static JsonObject ReadJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new InvalidDataException($"{path}: empty JSON.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e);
        }
    }
}
