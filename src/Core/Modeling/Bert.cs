using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ExperimentGrid.Core.Modeling;

// The BERT encoder. Every field is named after its Hugging Face checkpoint key (embeddings.word_embeddings,
// encoder.layer.N.attention.self.query, LayerNorm, ...), because RegisterComponents() names submodules after fields:
// the state dict of this module *is* the checkpoint layout, with no renaming table to keep in sync.

public sealed class BertEmbeddings : Module<Tensor, Tensor, Tensor>
{
    private readonly Embedding word_embeddings;
    private readonly Embedding position_embeddings;
    private readonly Embedding token_type_embeddings;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;

    public BertEmbeddings(BertConfig config) : base(nameof(BertEmbeddings))
    {
        word_embeddings = Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId);
        position_embeddings = Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        token_type_embeddings = Embedding(config.TypeVocabSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    public Embedding WordEmbeddings => word_embeddings;

    public override Tensor forward(Tensor inputIds, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var positions = arange(inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var embedded = word_embeddings.call(inputIds).Plus(token_type_embeddings.call(tokenTypeIds)).Plus(position_embeddings.call(positions));
        return dropout.call(LayerNorm.call(embedded)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Where the real tokens of a padded batch sit. The encoder runs every position-wise operation (the dense layers,
/// LayerNorm, GELU) on the packed real tokens, [real tokens, hidden], and pads only inside attention. With dynamic
/// padding a batch is often half padding, so this halves the dense work. Outputs at padded positions are zeros.
/// </summary>
public sealed class TokenLayout
{
    public long Batch { get; }
    public long Tokens { get; }

    /// <summary>Flat indices (into batch × tokens) of the real tokens; null when nothing is padded.</summary>
    public Tensor? RealTokens { get; }

    /// <summary>[batch, 1, 1, tokens], true where a key may be attended; null when nothing is padded.</summary>
    public Tensor? KeepMask { get; }

    private TokenLayout(long batch, long tokens, Tensor? realTokens, Tensor? keepMask) =>
        (Batch, Tokens, RealTokens, KeepMask) = (batch, tokens, realTokens, keepMask);

    /// <summary>Reads the attention mask once (one device sync: the packed size depends on the data).</summary>
    public static TokenLayout Of(Tensor attentionMask)
    {
        var (batch, tokens) = (attentionMask.shape[0], attentionMask.shape[1]);
        var realTokens = attentionMask.reshape(-1).nonzero().squeeze(1);
        if (realTokens.shape[0] == batch * tokens) return new TokenLayout(batch, tokens, null, null);
        return new TokenLayout(batch, tokens, realTokens, attentionMask.to_type(ScalarType.Bool).view(batch, 1, 1, tokens));
    }

    /// <summary>[batch, tokens, features] → [real tokens, features].</summary>
    public Tensor Pack(Tensor padded)
    {
        var flat = padded.reshape(Batch * Tokens, padded.shape[^1]);
        return RealTokens is null ? flat : flat.index_select(0, RealTokens);
    }

    /// <summary>[real tokens, features] → [batch × tokens, features], zeros at padded positions.</summary>
    public Tensor ScatterFlat(Tensor packed) =>
        RealTokens is null ? packed : zeros(Batch * Tokens, packed.shape[^1], packed.dtype, packed.device).index_copy(0, RealTokens, packed);

    /// <summary>[real tokens, features] → [batch, tokens, features], zeros at padded positions.</summary>
    public Tensor Unpack(Tensor packed) => ScatterFlat(packed).view(Batch, Tokens, packed.shape[^1]);
}

public sealed class BertSelfAttention : Module<Tensor, TokenLayout, Tensor>
{
    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear value;
    private readonly int _heads;
    private readonly int _headDim;
    private readonly double _attentionDropout;
    private readonly MixedPrecision _precision;

    public BertSelfAttention(BertConfig config, MixedPrecision precision) : base(nameof(BertSelfAttention))
    {
        query = Linear(config.HiddenSize, config.HiddenSize);
        key = Linear(config.HiddenSize, config.HiddenSize);
        value = Linear(config.HiddenSize, config.HiddenSize);
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        _attentionDropout = config.AttentionProbsDropoutProb;
        _precision = precision;
        RegisterComponents();
    }

    /// <param name="hidden">Packed real tokens, [real tokens, hidden].</param>
    public override Tensor forward(Tensor hidden, TokenLayout layout)
    {
        using var scope = NewDisposeScope();
        // One GEMM for query, key and value: the checkpoint keeps three matrices, the kernel prefers one wide one.
        var weight = cat([query.weight!, key.weight!, value.weight!], 0);
        var bias = cat([query.bias!, key.bias!, value.bias!], 0);
        var qkv = layout.ScatterFlat(_precision.Linear(hidden, weight, bias))
            .view(layout.Batch, layout.Tokens, 3, _heads, _headDim)
            .permute(2, 0, 3, 1, 4);
        // Fused attention kernel: no [tokens × tokens] probabilities kept for backward, on CPU or GPU. It runs in the
        // type of q, k and v, and its kernels keep the softmax in fp32 for bfloat16 inputs.
        var context = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], layout.KeepMask, training ? _attentionDropout : 0.0);
        return layout.Pack(context.transpose(1, 2).reshape(layout.Batch, layout.Tokens, _heads * _headDim)).MoveToOuterDisposeScope();
    }
}

/// <summary>Projection, dropout, residual and LayerNorm: the shape both BertSelfOutput and BertOutput have.</summary>
public sealed class BertResidualOutput : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;
    private readonly MixedPrecision _precision;

    public BertResidualOutput(int inFeatures, BertConfig config, MixedPrecision precision) : base(nameof(BertResidualOutput))
    {
        dense = Linear(inFeatures, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = Dropout(config.HiddenDropoutProb);
        _precision = precision;
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor residual)
    {
        using var scope = NewDisposeScope();
        return _precision.Norm(LayerNorm, dropout.call(_precision.Linear(dense, hidden)).Plus(residual)).MoveToOuterDisposeScope();
    }
}

public sealed class BertAttention : Module<Tensor, TokenLayout, Tensor>
{
    private readonly BertSelfAttention self;
    private readonly BertResidualOutput output;

    public BertAttention(BertConfig config, MixedPrecision precision) : base(nameof(BertAttention))
    {
        self = new BertSelfAttention(config, precision);
        output = new BertResidualOutput(config.HiddenSize, config, precision);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, TokenLayout layout)
    {
        using var context = self.call(hidden, layout);
        return output.call(context, hidden);
    }
}

public sealed class BertIntermediate : Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly Func<Tensor, Tensor> _activation;
    private readonly MixedPrecision _precision;

    public BertIntermediate(BertConfig config, MixedPrecision precision) : base(nameof(BertIntermediate))
    {
        dense = Linear(config.HiddenSize, config.IntermediateSize);
        _activation = Activation(config.HiddenAct);
        _precision = precision;
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden)
    {
        using var projected = _precision.Linear(dense, hidden);
        return _activation(projected);
    }

    internal static Func<Tensor, Tensor> Activation(string name) => name switch
    {
        "gelu" => t => nn.functional.gelu(t),
        "gelu_new" or "gelu_pytorch_tanh" => t => nn.functional.gelu(t, TorchSharp.Modules.GELU.Approximate.tanh),
        "relu" => t => nn.functional.relu(t),
        _ => throw new NotSupportedException($"hidden_act '{name}' is not supported."),
    };
}

public sealed class BertLayer : Module<Tensor, TokenLayout, Tensor>
{
    private readonly BertAttention attention;
    private readonly BertIntermediate intermediate;
    private readonly BertResidualOutput output;

    public BertLayer(BertConfig config, MixedPrecision precision) : base(nameof(BertLayer))
    {
        attention = new BertAttention(config, precision);
        intermediate = new BertIntermediate(config, precision);
        output = new BertResidualOutput(config.IntermediateSize, config, precision);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, TokenLayout layout)
    {
        using var scope = NewDisposeScope();
        var attended = attention.call(hidden, layout);
        return output.call(intermediate.call(attended), attended).MoveToOuterDisposeScope();
    }
}

public sealed class BertEncoder : Module<Tensor, TokenLayout, Tensor>
{
    private readonly ModuleList<BertLayer> layer;

    public BertEncoder(BertConfig config, MixedPrecision precision) : base(nameof(BertEncoder))
    {
        layer = new ModuleList<BertLayer>([.. Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new BertLayer(config, precision))]);
        RegisterComponents();
    }

    public IReadOnlyList<BertLayer> Layers => [.. layer];

    /// <param name="hidden">Packed real tokens, [real tokens, hidden].</param>
    public override Tensor forward(Tensor hidden, TokenLayout layout) => RunLayers(hidden, layout, 0, layer.Count);

    /// <summary>Runs layers [from, to); the freeze logic runs the frozen prefix under no_grad and the rest with autograd.</summary>
    public Tensor RunLayers(Tensor hidden, TokenLayout layout, int from, int to)
    {
        using var scope = NewDisposeScope();
        var current = hidden;
        for (var i = from; i < to; i++) current = layer[i].call(current, layout);
        return (ReferenceEquals(current, hidden) ? current.alias() : current).MoveToOuterDisposeScope();
    }
}

public sealed class BertPooler : Module<Tensor, Tensor>
{
    private readonly Linear dense;
    private readonly MixedPrecision _precision;

    public BertPooler(BertConfig config, MixedPrecision precision) : base(nameof(BertPooler))
    {
        dense = Linear(config.HiddenSize, config.HiddenSize);
        _precision = precision;
        RegisterComponents();
    }

    public override Tensor forward(Tensor lastHiddenState)
    {
        using var scope = NewDisposeScope();
        return _precision.Linear(dense, lastHiddenState.select(1, 0)).tanh().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// How much of the encoder is frozen. Frozen modules keep requires_grad off, run in eval mode (no dropout) and run
/// under no_grad, so they cost a forward pass only.
/// </summary>
public readonly record struct FreezeDepth
{
    /// <summary>Encoder layers frozen from the bottom; embeddings are frozen whenever this is above zero.</summary>
    public int Layers { get; }

    /// <summary>Everything but the task head is frozen (the pooler too, as in the seed notebook's head-only run).</summary>
    public bool All { get; }

    private FreezeDepth(int layers, bool all) => (Layers, All) = (layers, all);

    public static FreezeDepth None { get; } = new(0, false);
    public static FreezeDepth Everything { get; } = new(0, true);
    public static FreezeDepth Bottom(int layers) =>
        layers >= 0 ? new(layers, false) : throw new ArgumentOutOfRangeException(nameof(layers), layers, "freeze depth must be 0 or more");

    public bool FreezesEmbeddings => All || Layers > 0;

    public int FrozenLayerCount(int totalLayers) => All ? totalLayers : Math.Min(Layers, totalLayers);

    public override string ToString() => All ? "all" : Layers.ToString();

    /// <summary>Why this depth cannot apply to an encoder of <paramref name="totalLayers"/> layers, or null when it can.</summary>
    public string? Misfit(int totalLayers, string model) =>
        Layers > totalLayers ? $"{Layers} exceeds the {totalLayers} encoder layers of {model}; use 'all' to train only the head" : null;

    /// <summary>Parses "all", "none" or a layer count.</summary>
    public static FreezeDepth Parse(string text)
    {
        var trimmed = text.Trim().ToLowerInvariant();
        if (trimmed is "all" or "head" or "head-only") return Everything;
        if (trimmed is "none" or "") return None;
        if (!int.TryParse(trimmed, out var layers) || layers < 0)
            throw new FormatException($"'{text}' is not a freeze depth; use 'all', 'none' or a layer count of 0 or more.");
        return Bottom(layers);
    }
}

public sealed class BertModel : Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;
    private readonly BertPooler? pooler;

    public BertConfig Config { get; }
    public FreezeDepth Freeze { get; private set; } = FreezeDepth.None;

    /// <summary>The compute type of this encoder and of the head built on it.</summary>
    public MixedPrecision Precision { get; } = new();

    /// <summary>The input embedding matrix, which the masked-LM head also uses as its output projection.</summary>
    public Embedding WordEmbeddings => embeddings.WordEmbeddings;

    public BertModel(BertConfig config, bool addPoolingLayer = true) : base(nameof(BertModel))
    {
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config, Precision);
        if (addPoolingLayer) pooler = new BertPooler(config, Precision);
        RegisterComponents();
        BertInitialization.Apply(this, config.InitializerRange);
        using (no_grad()) embeddings.WordEmbeddings.weight![config.PadTokenId].zero_();
    }

    /// <summary>The frozen prefix's output for the next forward pass, read from a cache instead of computed.</summary>
    private Tensor? _cachedPrefix;

    /// <returns>last_hidden_state, [batch, tokens, hidden]; zeros at padded positions.</returns>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor tokenTypeIds)
    {
        using var scope = NewDisposeScope();
        var layout = TokenLayout.Of(attentionMask);
        var frozenLayers = Freeze.FrozenLayerCount(Config.NumHiddenLayers);
        Tensor hidden;
        if (_cachedPrefix is { } cached)
        {
            var realTokens = layout.RealTokens?.shape[0] ?? layout.Batch * layout.Tokens;
            if (cached.shape[0] != realTokens || cached.shape[1] != Config.HiddenSize)
                throw new InvalidOperationException($"the cached prefix has {cached.shape[0]} rows of {cached.shape[1]}; the batch has {realTokens} tokens of {Config.HiddenSize}");
            hidden = cached.alias();
        }
        else if (Freeze.FreezesEmbeddings)
        {
            using (no_grad())
            {
                hidden = encoder.RunLayers(layout.Pack(embeddings.call(inputIds, tokenTypeIds)), layout, 0, frozenLayers);
            }
        }
        else
        {
            hidden = layout.Pack(embeddings.call(inputIds, tokenTypeIds));
        }
        return layout.Unpack(encoder.RunLayers(hidden, layout, frozenLayers, Config.NumHiddenLayers)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Makes forward passes take <paramref name="packedOutput"/>, [real tokens, hidden], as the output of the frozen
    /// embeddings and layers, until the result is disposed. The prefix runs without dropout or gradients, so its output
    /// is a function of the input alone, which is what lets a cache stand in for it.
    /// </summary>
    public IDisposable UseCachedPrefix(Tensor packedOutput)
    {
        if (!Freeze.FreezesEmbeddings) throw new InvalidOperationException("nothing is frozen, so there is no prefix to take from a cache.");
        _cachedPrefix = packedOutput;
        return new CachedPrefixScope(this);
    }

    private sealed class CachedPrefixScope(BertModel model) : IDisposable
    {
        public void Dispose() => model._cachedPrefix = null;
    }

    /// <summary>The embeddings of a batch, packed to its real tokens: the input of the first encoder layer.</summary>
    public Tensor EmbedFrozen(Tensor inputIds, Tensor tokenTypeIds, TokenLayout layout)
    {
        if (!Freeze.FreezesEmbeddings) throw new InvalidOperationException("the embeddings are trained, so their output changes with every step.");
        using var noGrad = no_grad();
        return layout.Pack(embeddings.call(inputIds, tokenTypeIds));
    }

    /// <summary>Runs frozen layers [from, to) on packed hidden states, without gradients.</summary>
    public Tensor RunFrozenLayers(Tensor hidden, TokenLayout layout, int from, int to)
    {
        if (to > Freeze.FrozenLayerCount(Config.NumHiddenLayers))
            throw new InvalidOperationException($"layer {to - 1} is trained, so its output changes with every step (freeze {Freeze}).");
        using var noGrad = no_grad();
        return encoder.RunLayers(hidden, layout, from, to);
    }

    public Tensor Pool(Tensor lastHiddenState)
    {
        if (pooler is null) throw new InvalidOperationException("This encoder was built without a pooling layer.");
        if (!Freeze.All) return pooler.call(lastHiddenState);
        using (no_grad()) return pooler.call(lastHiddenState);
    }

    public void SetFreeze(FreezeDepth freeze)
    {
        if (freeze.Layers > Config.NumHiddenLayers)
            throw new ArgumentOutOfRangeException(nameof(freeze), $"freeze {freeze.Layers} exceeds the model's {Config.NumHiddenLayers} layers.");
        Freeze = freeze;
        foreach (var (_, parameter) in named_parameters()) parameter.requires_grad = true;
        foreach (var module in FrozenModules())
            foreach (var (_, parameter) in module.named_parameters()) parameter.requires_grad = false;
        train(training);
    }

    private IEnumerable<Module> FrozenModules()
    {
        if (Freeze.FreezesEmbeddings) yield return embeddings;
        var layers = encoder.Layers;
        for (var i = 0; i < Freeze.FrozenLayerCount(layers.Count); i++) yield return layers[i];
        if (Freeze.All && pooler is not null) yield return pooler;
    }

    public override void train(bool train = true)
    {
        base.train(train);
        // Frozen modules never use dropout: their output must not change from one step to the next.
        foreach (var module in FrozenModules()) module.eval();
    }
}

/// <summary>Weight initialisation as transformers' BertPreTrainedModel._init_weights does it.</summary>
public static class BertInitialization
{
    public static void Apply(Module module, double initializerRange)
    {
        using var noGrad = no_grad();
        foreach (var (_, child) in module.named_modules())
        {
            switch (child)
            {
                case Linear linear:
                    init.normal_(linear.weight, 0, initializerRange);
                    if (linear.bias is not null) init.zeros_(linear.bias);
                    break;
                case Embedding embedding:
                    init.normal_(embedding.weight!, 0, initializerRange);
                    break;
                case LayerNorm norm:
                    init.ones_(norm.weight!);
                    init.zeros_(norm.bias!);
                    break;
            }
        }
    }
}
