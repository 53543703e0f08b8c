using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace ExperimentGrid.Client.Commands;

/// <summary>
/// Writes log lines through the Spectre console that draws a live progress bar, so lines appear above the bar
/// instead of tearing it (two writers on one terminal otherwise interleave mid-line).
/// </summary>
internal sealed class ConsoleLogger(IAnsiConsole console) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        var colour = logLevel >= LogLevel.Warning ? "yellow" : "grey";
        console.MarkupLine($"[{colour}]{DateTime.Now:HH:mm:ss}[/] {Markup.Escape(formatter(state, exception))}");
    }
}
