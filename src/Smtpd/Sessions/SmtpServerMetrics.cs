using System.Diagnostics.Metrics;
using Smtpd.Protocol;

namespace Smtpd.Sessions;

/// <summary>
/// The instruments of one <see cref="SmtpServer"/>, on a <see cref="Meter"/> named <see cref="SmtpServer.MeterName"/>
/// that the server owns. One meter per server, not one static meter per process, so that a collector can tell two
/// servers in one process apart by their <see cref="Meter"/> object (the catcher's <c>/metrics</c>, tests that run
/// many servers in parallel); an OpenTelemetry host that adds the meter by name sees the sum of them all.
/// </summary>
/// <remarks>
/// The hot path pays one <see cref="Instrument.Enabled"/> check per measurement when nothing listens, and no
/// allocation when something does: every tag set is an array built once per listener and reused.
/// </remarks>
internal sealed class SmtpServerMetrics : IDisposable
{
    private readonly Counter<long> _connections;
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _acceptedSize;
    private readonly Counter<long> _rejected;

    public SmtpServerMetrics(Func<int> sessionCount)
    {
        Meter = new Meter(SmtpServer.MeterName, typeof(SmtpServer).Assembly.GetName().Version?.ToString());
        _connections = Meter.CreateCounter<long>("smtpd.connections", "{connection}", "TCP connections accepted, including those refused at once (MaxSessions, an untrusted PROXY sender).");
        _accepted = Meter.CreateCounter<long>("smtpd.messages.accepted", "{message}", "Messages accepted: the end of DATA or of the last BDAT chunk was answered with 2xx (LMTP: for at least one recipient).");
        _acceptedSize = Meter.CreateCounter<long>("smtpd.messages.accepted.size", "By", "Octets of the messages accepted, as received (after dot-unstuffing).");
        _rejected = Meter.CreateCounter<long>("smtpd.replies.rejected", "{reply}", "Replies with a 4xx or 5xx code, by the command they answer (connect for the greeting) and reply class.");
        Meter.CreateObservableGauge("smtpd.sessions", sessionCount, "{session}", "SMTP sessions open now, on every listener.");
    }

    /// <summary>The server's meter; disposed with the server.</summary>
    public Meter Meter { get; }

    /// <summary>The instruments bound to one listener's tag.</summary>
    public Listener ForListener(SmtpListener listener) => new(this, listener.EndPoint.ToString());

    public void Dispose() => Meter.Dispose();

    /// <summary>One listener's tag sets, built once, so a measurement allocates nothing.</summary>
    internal sealed class Listener
    {
        // Index 0 is the greeting ("connect"); verb v is at 1 + v. Two classes each: 4xx, 5xx.
        private static readonly string[] CommandNames = ["connect", .. Enum.GetValues<SmtpVerb>().Select(v => v switch
        {
            SmtpVerb.Unknown or SmtpVerb.Forbidden => "unknown",
            _ => v.ToString().ToLowerInvariant(),
        })];

        private readonly SmtpServerMetrics _owner;
        private readonly string _endPoint;
        private readonly KeyValuePair<string, object?>[] _listenerTag;
        private readonly KeyValuePair<string, object?>[]?[] _rejectedTags = new KeyValuePair<string, object?>[CommandNames.Length * 2][];

        public Listener(SmtpServerMetrics owner, string endPoint)
        {
            _owner = owner;
            _endPoint = endPoint;
            _listenerTag = [new("listener", endPoint)];

            // A listener's series start at zero when it opens, so a scrape shows it before its first client.
            foreach (var counter in (ReadOnlySpan<Counter<long>>)[owner._connections, owner._accepted, owner._acceptedSize])
            {
                if (counter.Enabled)
                {
                    counter.Add(0, _listenerTag);
                }
            }
        }

        public void Connected()
        {
            if (_owner._connections.Enabled)
            {
                _owner._connections.Add(1, _listenerTag);
            }
        }

        public void Accepted(long size)
        {
            if (_owner._accepted.Enabled)
            {
                _owner._accepted.Add(1, _listenerTag);
            }

            if (_owner._acceptedSize.Enabled)
            {
                _owner._acceptedSize.Add(size, _listenerTag);
            }
        }

        /// <summary>Counts a 4xx or 5xx reply.</summary>
        /// <param name="code">The reply code, 400 to 599.</param>
        /// <param name="verb">The command it answers, or <see langword="null"/> for the greeting.</param>
        public void Rejected(int code, SmtpVerb? verb)
        {
            if (!_owner._rejected.Enabled)
            {
                return;
            }

            var command = verb is { } v ? 1 + (int)v : 0;
            var index = command * 2 + (code >= 500 ? 1 : 0);
            // A race builds the same array twice; either copy is right.
            var tags = _rejectedTags[index] ??= [new("listener", _endPoint), new("command", CommandNames[command]), new("class", code >= 500 ? "5xx" : "4xx")];
            _owner._rejected.Add(1, tags);
        }
    }
}
