using HikShareGateway.Composition;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Extensions.Logging;
using Serilog.Formatting.Display;

namespace HikShareGateway.Tests.Host;

/// <summary>
/// The host's console logging pipeline as the log tests need it: the one escaping and redacting enricher, lines
/// rendered with the journal's output template into a string. Dispose flushes before <see cref="Text"/> is read.
/// </summary>
internal sealed class RenderedLogPipeline : IDisposable
{
    private readonly RenderingSink _sink = new();
    private readonly Logger _serilog;

    public RenderedLogPipeline() =>
        _serilog = new LoggerConfiguration().Enrich.With<LogEscapingEnricher>().WriteTo.Sink(_sink).CreateLogger();

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string category) => new SerilogLoggerFactory(_serilog).CreateLogger(category);

    /// <summary>Everything rendered so far.</summary>
    public string Text => _sink.Text.ToString();

    public void Dispose() => _serilog.Dispose();

    private sealed class RenderingSink : ILogEventSink
    {
        private readonly MessageTemplateTextFormatter _formatter = new(GatewayRunner.OutputTemplate(underJournal: true));
        public readonly StringWriter Text = new();
        public void Emit(LogEvent logEvent) => _formatter.Format(logEvent, Text);
    }
}
