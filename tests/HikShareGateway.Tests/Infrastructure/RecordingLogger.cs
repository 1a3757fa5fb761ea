using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>A logger that keeps what was logged (level, event id, formatted message), for tests of what reaches the log.</summary>
public sealed class RecordingLogger<T> : ILogger<T>
{
    public sealed record Entry(LogLevel Level, EventId EventId, string Message);

    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => [.. _entries];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        => _entries.Enqueue(new Entry(logLevel, eventId, formatter(state, exception)));
}

/// <summary>Every logger of a host's factory into one <see cref="RecordingLogger{T}"/> (register it as an <see cref="ILoggerProvider"/> service).</summary>
public sealed class RecordingLoggerProvider : ILoggerProvider
{
    public RecordingLogger<RecordingLoggerProvider> Log { get; } = new();

    public ILogger CreateLogger(string categoryName) => Log;

    public void Dispose()
    {
    }
}
