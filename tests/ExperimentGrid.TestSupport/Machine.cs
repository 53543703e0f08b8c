using System.Globalization;
using System.Runtime.InteropServices;

namespace ExperimentGrid.TestSupport;

/// <summary>The 1, 5 and 15 minute load averages: above the core count, another job shared the CPU with the silos.</summary>
public sealed record LoadAverage(double One, double Five, double Fifteen)
{
    /// <summary>Null off Linux, where there is no /proc/loadavg.</summary>
    public static LoadAverage? Read()
    {
        const string path = "/proc/loadavg";
        if (!File.Exists(path)) return null;
        var fields = File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        double At(int i) => double.Parse(fields[i], CultureInfo.InvariantCulture);
        return new LoadAverage(At(0), At(1), At(2));
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{One:F2}, {Five:F2}, {Fifteen:F2}");
}

/// <summary>Facts about this machine that a reader needs to compare runs.</summary>
public static class Machine
{
    /// <summary>
    /// CPU time every process on this machine has used since boot (user, nice, system, irq, softirq in /proc/stat);
    /// null off Linux. Idle, I/O wait and time stolen by the hypervisor are not anyone's work here.
    /// </summary>
    public static TimeSpan? BusyCpuTime()
    {
        const string path = "/proc/stat";
        if (!File.Exists(path)) return null;
        var ticks = File.ReadLines(path).First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        // /proc/stat counts in USER_HZ, which Linux fixes at 100 per second for user space.
        return TimeSpan.FromSeconds((ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / 100.0);
    }

    public static string CpuModel()
    {
        const string cpuInfo = "/proc/cpuinfo";
        var model = File.Exists(cpuInfo)
            ? File.ReadLines(cpuInfo).FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return model ?? RuntimeInformation.ProcessArchitecture.ToString();
    }
}
