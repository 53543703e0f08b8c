using ExperimentGrid.Runtime.Slots;

namespace ExperimentGrid.Grid.Tests;

public sealed class SiloSlotsTests
{
    [Theory]
    [InlineData("cpu:2", "cpu:0,cpu:1")]
    [InlineData("gpu:0,gpu:1", "gpu:0,gpu:1")]
    [InlineData("gpu:3, cpu:1", "gpu:3,cpu:0")]
    [InlineData("gpu:0x2", "gpu:0.0,gpu:0.1")]
    [InlineData("gpu:0x2,gpu:1x2", "gpu:0.0,gpu:0.1,gpu:1.0,gpu:1.1")]
    [InlineData("gpu:0x1,gpu:1x3,cpu:1", "gpu:0,gpu:1.0,gpu:1.1,gpu:1.2,cpu:0")]
    public void Parse_lists_one_slot_per_GPU_or_share_of_one_and_the_counted_CPU_slots(string text, string expected) =>
        Assert.Equal(expected, SiloSlots.Parse(text).ToString());

    [Theory]
    [InlineData("gpu:0x0", "'gpu:0x0': a GPU shared by 0 slots trains nothing")]
    [InlineData("gpu:0,gpu:0x2", "'gpu:0x2' is listed twice: GPU 0 is there already")]
    [InlineData("gpu:1x2,gpu:1x2", "'gpu:1x2' is listed twice")]
    [InlineData("cpu:2x2", "'cpu:2x2': only a GPU is shared")]
    [InlineData("gpu:0x", "'gpu:0x' is not a slot")]
    [InlineData("gpu:0x99999999999", "'gpu:0x99999999999': 99999999999 is too large")]
    public void Bad_slots_are_named_with_what_is_wrong(string text, string message) =>
        Assert.StartsWith(message, Assert.Throws<FormatException>(() => SiloSlots.Parse(text)).Message);

    [Fact]
    public void Slots_sharing_a_GPU_are_distinct_and_train_on_that_GPU()
    {
        var slots = SiloSlots.Parse("gpu:0x2").All;
        Assert.Equal(2, slots.Distinct().Count());
        Assert.All(slots, s => Assert.Equal("cuda:0", s.Device));
        Assert.NotEqual(slots[0].ToString(), slots[1].ToString());
    }

    [Theory]
    [InlineData("cpu:2", "cpu,cpu")]
    [InlineData("gpu:1,cpu:1,gpu:0", "cuda:1,cpu,cuda:0")]
    public void A_GPU_slot_trains_on_its_own_GPU_and_a_CPU_slot_on_the_CPU_never_auto(string text, string devices) =>
        Assert.Equal(devices, string.Join(',', SiloSlots.Parse(text).All.Select(s => s.Device)));

    [Fact]
    public void Detect_gives_one_slot_per_NVIDIA_device_node()
    {
        using var dev = new TemporaryDirectory();
        foreach (var node in new[] { "nvidia1", "nvidia0", "nvidiactl", "nvidia-uvm", "null" }) File.WriteAllText(Path.Combine(dev.Path, node), "");

        Assert.Equal("gpu:0,gpu:1", SiloSlots.Detect(dev.Path, cudaVisibleDevices: null).ToString());
    }

    [Fact]
    public void Detect_numbers_slots_as_CUDA_does_not_by_the_host_device_node()
    {
        // A container given the host's GPUs 2 and 5 sees /dev/nvidia2 and /dev/nvidia5; CUDA calls them cuda:0 and cuda:1.
        using var dev = new TemporaryDirectory();
        foreach (var node in new[] { "nvidia5", "nvidia2", "nvidiactl" }) File.WriteAllText(Path.Combine(dev.Path, node), "");

        Assert.Equal("gpu:0,gpu:1", SiloSlots.Detect(dev.Path, cudaVisibleDevices: null).ToString());
    }

    [Theory]
    [InlineData("3", "gpu:0")]
    [InlineData("1,0,2", "gpu:0,gpu:1,gpu:2")]
    [InlineData("", "cpu:0")]
    [InlineData("-1", "cpu:0")]
    public void Detect_takes_the_GPU_count_from_CUDA_VISIBLE_DEVICES_where_set(string visible, string expected)
    {
        using var dev = new TemporaryDirectory();
        foreach (var node in new[] { "nvidia0", "nvidia1", "nvidia2", "nvidia3" }) File.WriteAllText(Path.Combine(dev.Path, node), "");

        Assert.Equal(expected, SiloSlots.Detect(dev.Path, visible).ToString());
    }

    [Fact]
    public void Detect_gives_one_CPU_slot_without_GPUs()
    {
        using var dev = new TemporaryDirectory();

        Assert.Equal("cpu:0", SiloSlots.Detect(dev.Path, cudaVisibleDevices: null).ToString());
    }
}
