using ExperimentGrid.Grains;

namespace ExperimentGrid.Grid.Tests;

public sealed class SiloSlotsTests
{
    [Theory]
    [InlineData("cpu:2", "cpu:0,cpu:1")]
    [InlineData("gpu:0,gpu:1", "gpu:0,gpu:1")]
    [InlineData("gpu:3, cpu:1", "gpu:3,cpu:0")]
    public void Parse_lists_one_slot_per_GPU_and_the_counted_CPU_slots(string text, string expected) =>
        Assert.Equal(expected, SiloSlots.Parse(text).ToString());

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

        Assert.Equal("gpu:0,gpu:1", SiloSlots.Detect(dev.Path).ToString());
    }

    [Fact]
    public void Detect_gives_one_CPU_slot_without_GPUs()
    {
        using var dev = new TemporaryDirectory();

        Assert.Equal("cpu:0", SiloSlots.Detect(dev.Path).ToString());
    }
}
