namespace ExperimentGrid.Core.Data;

/// <summary>A sentence as words with one IOB2 tag each, and the line it starts on.</summary>
public sealed record TaggedSentence(IReadOnlyList<string> Words, IReadOnlyList<string> Tags, int Line);

/// <summary>A tokenized sentence: word-piece ids and one label id per piece (-100 where the loss ignores it).</summary>
public sealed record EncodedTokens(int[] Ids, long[] Labels);

/// <summary>
/// Reads CoNLL-style token files: one token per line with the tag in the last column (CoNLL-2003: four
/// space-separated columns; WNUT-17: token TAB tag), a blank line between sentences, -DOCSTART- lines skipped.
/// </summary>
public static class TokenClassificationData
{
    public static readonly IReadOnlyList<string> Extensions = [".txt", ".conll", ".iob", ".tsv"];

    public static IReadOnlyList<TaggedSentence> Read(string path)
    {
        if (!File.Exists(path)) throw new DatasetException($"{path}: file not found.");
        var sentences = new List<TaggedSentence>();
        var words = new List<string>();
        var tags = new List<string>();
        var start = 0;
        var lineNumber = 0;
        void Flush()
        {
            if (words.Count > 0) sentences.Add(new TaggedSentence([.. words], [.. tags], start));
            words.Clear();
            tags.Clear();
        }
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line))
            {
                Flush();
                continue;
            }
            if (line.StartsWith("-DOCSTART-", StringComparison.Ordinal)) continue;
            var columns = line.Split(line.Contains('\t') ? ['\t'] : [' '], StringSplitOptions.RemoveEmptyEntries);
            if (columns.Length < 2) throw new DatasetException($"{path}:{lineNumber}: expected a token and a tag, got '{line}'.");
            var tag = columns[^1];
            if (!IsIob2(tag)) throw new DatasetException($"{path}:{lineNumber}: tag '{tag}' is not IOB2 (O, B-TYPE or I-TYPE).");
            if (words.Count == 0) start = lineNumber;
            words.Add(columns[0]);
            tags.Add(tag);
        }
        Flush();
        if (sentences.Count == 0) throw new DatasetException($"{path}: no sentences.");
        return sentences;
    }

    private static bool IsIob2(string tag) => tag == "O" || (tag.Length > 2 && (tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-');

    /// <summary>The label set of the data: O first, then for each entity type in name order its B- and I- tags.</summary>
    public static IReadOnlyList<string> LabelSet(IEnumerable<TaggedSentence> sentences)
    {
        var types = sentences.SelectMany(s => s.Tags).Where(t => t != "O").Select(t => t[2..]).Distinct().Order(StringComparer.Ordinal);
        return ["O", .. types.SelectMany(t => new[] { $"B-{t}", $"I-{t}" })];
    }

    /// <summary>
    /// The seed notebook's alignment of word labels to word pieces: the first piece of a word carries the word's label,
    /// later pieces of the same word carry the I- form of a B- label (I- stays I-, O stays O), and [CLS], [SEP] and
    /// padding carry -100 so the loss ignores them. Words beyond the length limit are dropped, as truncation does.
    /// </summary>
    public static EncodedTokens Align(TaggedSentence sentence, Tokenization.TextTokenizer tokenizer, IReadOnlyDictionary<string, int> labelIds, int maxLength, string source)
    {
        var ids = new List<int>(maxLength) { tokenizer.ClsId };
        var labels = new List<long>(maxLength) { Batching.IgnoredLabel };
        for (var w = 0; w < sentence.Words.Count; w++)
        {
            var tag = sentence.Tags[w];
            if (!labelIds.TryGetValue(tag, out var label))
                throw new DatasetException($"{source}:{sentence.Line + w}: tag '{tag}' is not among the model's labels ({string.Join(", ", labelIds.Keys)}).");
            var continuation = tag.StartsWith("B-", StringComparison.Ordinal) ? labelIds.GetValueOrDefault("I-" + tag[2..], label) : label;
            var pieces = tokenizer.EncodeWord(sentence.Words[w]);
            for (var p = 0; p < pieces.Count && ids.Count < maxLength - 1; p++)
            {
                ids.Add(pieces[p]);
                labels.Add(p == 0 ? label : continuation);
            }
        }
        ids.Add(tokenizer.SepId);
        labels.Add(Batching.IgnoredLabel);
        return new EncodedTokens([.. ids], [.. labels]);
    }
}
