using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Smtpd.Catcher.Metrics;

/// <summary>
/// Collects the measurements of a fixed set of <see cref="Meter"/> objects with a <see cref="MeterListener"/> and
/// writes them in the Prometheus text exposition format 0.0.4 (the format of
/// https://prometheus.io/docs/instrumenting/exposition_formats/): counters as cumulative sums, observable gauges and
/// observable counters as what their callbacks report at the scrape.
/// </summary>
/// <remarks>
/// <para>
/// Scoped by <see cref="Meter"/> object, not by meter name: a process may run many catchers (the tests run dozens in
/// parallel), each with meters of the same names, and each catcher's <c>/metrics</c> must count only its own.
/// </para>
/// <para>
/// Why not OpenTelemetry's Prometheus exporter: the registry offers only a prerelease
/// (OpenTelemetry.Exporter.Prometheus.AspNetCore 1.20.1-beta.1), it selects meters by name (so parallel catchers in
/// one process would add up), and it would pull the OpenTelemetry SDK into every host of the catcher. The format
/// needed here, integer counters and gauges with a few labels, is a page of code.
/// </para>
/// </remarks>
internal sealed class PrometheusCollector : IDisposable
{
    /// <summary>The content type of the text format, version 0.0.4.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly HashSet<Meter> _meters;
    private readonly Action? _beforeCollect;
    private readonly MeterListener _listener;
    private readonly Lock _gate = new();
    private readonly List<Metric> _metrics = [];
    private int _epoch;

    /// <summary>Starts collecting from <paramref name="meters"/>: their instruments now and those created later.</summary>
    /// <param name="beforeCollect">Called at each scrape before the observable instruments are read (to drop cached figures).</param>
    /// <param name="meters">The meters whose instruments are collected; no other meter's, whatever its name.</param>
    public PrometheusCollector(Action? beforeCollect, params Meter[] meters)
    {
        _beforeCollect = beforeCollect;
        _meters = [.. meters];
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (!_meters.Contains(instrument.Meter))
                {
                    return;
                }

                var metric = new Metric(this, instrument);
                lock (_gate)
                {
                    _metrics.Add(metric);
                }

                listener.EnableMeasurementEvents(instrument, metric);
            },
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((Metric)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((Metric)state!).Record(value, tags));
        _listener.Start();
    }

    /// <summary>Writes every metric: observes the observable instruments first, then writes them sorted by name.</summary>
    public string Scrape()
    {
        lock (_gate)
        {
            // Observable series report only what their callbacks return now; a series not reported is left out.
            _epoch++;
            _beforeCollect?.Invoke();
            _listener.RecordObservableInstruments();
            var text = new StringBuilder();
            foreach (var metric in _metrics.OrderBy(m => m.Name, StringComparer.Ordinal))
            {
                metric.WriteTo(text, _epoch);
            }

            return text.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>The Prometheus name of an instrument: dots become underscores, then the unit and <c>_total</c> suffixes.</summary>
    internal static string MetricName(Instrument instrument)
    {
        var name = new StringBuilder(Sanitize(instrument.Name));
        if (instrument.Unit == "By")
        {
            name.Append("_bytes");
        }
        else if (instrument.Unit == "s")
        {
            name.Append("_seconds");
        }

        if (IsCounter(instrument))
        {
            name.Append("_total");
        }

        return name.ToString();
    }

    /// <summary>Replaces every character outside <c>[a-zA-Z0-9_]</c> (and a leading digit) with <c>_</c>, as Prometheus names require.</summary>
    internal static string Sanitize(string name) => string.Create(name.Length, name, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            span[i] = char.IsAsciiLetter(c) || c == '_' || (char.IsAsciiDigit(c) && i > 0) ? c : '_';
        }
    });

    /// <summary>A label value: backslash, double quote and line feed escaped (text format 0.0.4).</summary>
    internal static string EscapeLabelValue(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>A HELP text: backslash and line feed escaped (text format 0.0.4).</summary>
    internal static string EscapeHelp(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static bool IsCounter(Instrument instrument) =>
        instrument is Counter<long> or Counter<int> or ObservableCounter<long> or ObservableCounter<int>;

    /// <summary>One instrument and its series, one per tag set.</summary>
    private sealed class Metric(PrometheusCollector owner, Instrument instrument)
    {
        private readonly bool _counter = IsCounter(instrument);
        private readonly bool _observable = instrument.IsObservable;
        private readonly Lock _adding = new();
        private Series[] _series = [];

        public string Name { get; } = MetricName(instrument);

        public void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var series = Find(tags) ?? Add(tags);
            if (_observable)
            {
                // Observed under the collector's lock, during a scrape: the callback reports the value itself.
                series.Value = value;
                series.Epoch = owner._epoch;
            }
            else
            {
                Interlocked.Add(ref series.Value, value);
            }
        }

        public void WriteTo(StringBuilder text, int epoch)
        {
            text.Append("# HELP ").Append(Name).Append(' ').Append(EscapeHelp(instrument.Description ?? instrument.Name)).Append('\n');
            text.Append("# TYPE ").Append(Name).Append(' ').Append(_counter ? "counter" : "gauge").Append('\n');
            foreach (var series in Volatile.Read(ref _series))
            {
                if (_observable && series.Epoch != epoch)
                {
                    continue;
                }

                text.Append(Name).Append(series.Labels).Append(' ')
                    .Append(Interlocked.Read(ref series.Value).ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        /// <summary>The series of these tags; the tag arrays are cached by the instruments' owners, so there are few.</summary>
        private Series? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var series in Volatile.Read(ref _series))
            {
                if (series.Matches(tags))
                {
                    return series;
                }
            }

            return null;
        }

        private Series Add(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var copy = tags.ToArray();
            lock (_adding)
            {
                if (Find(tags) is { } raced)
                {
                    return raced;
                }

                var series = new Series(copy);
                Volatile.Write(ref _series, [.. _series, series]);
                return series;
            }
        }
    }

    private sealed class Series(KeyValuePair<string, object?>[] tags)
    {
        public long Value;
        public int Epoch;

        /// <summary>The label set as written, <c>{a="x",b="y"}</c>, or empty without tags.</summary>
        public string Labels { get; } = tags.Length == 0 ? string.Empty
            : "{" + string.Join(",", tags.Select(t => Sanitize(t.Key) + "=\"" + EscapeLabelValue(Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? string.Empty) + "\"")) + "}";

        public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> other)
        {
            if (other.Length != tags.Length)
            {
                return false;
            }

            for (var i = 0; i < tags.Length; i++)
            {
                if (!string.Equals(other[i].Key, tags[i].Key, StringComparison.Ordinal) || !Equals(other[i].Value, tags[i].Value))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
