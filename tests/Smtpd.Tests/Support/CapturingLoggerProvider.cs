using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Smtpd.Tests.Support;

/// <summary>One captured log entry, with the scope values that were active when it was written.</summary>
public sealed record CapturedLog(LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Scope);

/// <summary>A logger provider that records every entry, for tests of what the server logs.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider, ILoggerFactory
{
    private readonly AsyncLocal<ImmutableScope?> _scope = new();

    public ConcurrentQueue<CapturedLog> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed record ImmutableScope(ImmutableScope? Parent, object? State) : IDisposable
    {
        public AsyncLocal<ImmutableScope?>? Owner { get; init; }

        public void Dispose()
        {
            if (Owner is not null)
            {
                Owner.Value = Parent;
            }
        }
    }

    private sealed class Logger(CapturingLoggerProvider provider) : ILogger
    {
        public IDisposable BeginScope<TState>(TState state)
            where TState : notnull
        {
            var scope = new ImmutableScope(provider._scope.Value, state) { Owner = provider._scope };
            provider._scope.Value = scope;
            return scope;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = new Dictionary<string, object?>();
            for (var scope = provider._scope.Value; scope is not null; scope = scope.Parent)
            {
                if (scope.State is IEnumerable<KeyValuePair<string, object?>> pairs)
                {
                    foreach (var pair in pairs)
                    {
                        values.TryAdd(pair.Key, pair.Value);
                    }
                }
            }

            provider.Entries.Enqueue(new CapturedLog(logLevel, formatter(state, exception), values));
        }
    }
}
