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
