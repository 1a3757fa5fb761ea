using System.Diagnostics.Metrics;

namespace HikShareGateway.Http.Metrics;

/// <summary>
/// Aggregates the measurements of one <see cref="Meter"/> (by reference, not by name: another host's meter of the
/// same name is not read) with a <see cref="MeterListener"/>: counters and up-down counters as sums, histograms as
/// bucket counts, one series per distinct tag set.
/// <para>
/// The recording path is the relay's (bytes and packets per viewer flush): it takes no lock and allocates nothing
/// once a tag set has been seen — a copy-on-write array of series scanned linearly (the gateway's tag sets are a
/// handful per instrument), <see cref="Interlocked"/> sums. A new tag set takes the instrument's lock once.
/// Histograms (HTTP requests, session ends: low rates) lock their series so that a scrape sees count, sum and
/// buckets of the same moment.
/// </para>
/// </summary>
public sealed class MeterCollector : IDisposable
{
    /// <summary>Buckets of a histogram whose instrument gives no advice (Prometheus client defaults, seconds).</summary>
    public static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>At most this many series per instrument; more tag sets are folded into the last one (a runaway label must not eat the memory).</summary>
    public const int MaxSeriesPerInstrument = 1000;

    private readonly Meter _meter;
    private readonly MeterListener _listener = new();
    private readonly Lock _gate = new();
    private InstrumentState[] _instruments = [];

    public MeterCollector(Meter meter)
    {
        _meter = meter;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter) && Kind(instrument) is { } kind)
            {
                var state = new InstrumentState(instrument, kind);
                lock (_gate)
                {
                    _instruments = [.. _instruments, state];
                }
                listener.EnableMeasurementEvents(instrument, state);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.Start();
    }

    /// <summary>
    /// Asks every observable instrument (<c>CreateObservableCounter</c>, <c>…Gauge</c>, <c>…UpDownCounter</c>) for its
    /// current values, which replace what it said last time: called by a scrape before it reads.
    /// </summary>
    public void Observe() => _listener.RecordObservableInstruments();

    /// <summary>The instruments of the meter, in the order they were created.</summary>
    public IReadOnlyList<InstrumentState> Instruments => Volatile.Read(ref _instruments);

    public void Dispose() => _listener.Dispose();

    private static MetricKind? Kind(Instrument instrument)
    {
        var type = instrument.GetType();
        if (!type.IsGenericType)
        {
            return null;
        }
        var definition = type.GetGenericTypeDefinition();
        return definition == typeof(Counter<>) || definition == typeof(ObservableCounter<>) ? MetricKind.Counter
            : definition == typeof(UpDownCounter<>) || definition == typeof(ObservableUpDownCounter<>)
              || definition == typeof(ObservableGauge<>) || definition == typeof(Gauge<>) ? MetricKind.Gauge
            : definition == typeof(Histogram<>) ? MetricKind.Histogram
            : null;
    }
}

public enum MetricKind
{
    /// <summary>Monotonic sum: Prometheus <c>counter</c>, name ending in <c>_total</c>.</summary>
    Counter,
    /// <summary>A value that goes up and down (an up-down counter's sum): Prometheus <c>gauge</c>.</summary>
    Gauge,
    /// <summary>Prometheus <c>histogram</c>: cumulative <c>_bucket{le}</c>, <c>_sum</c>, <c>_count</c>.</summary>
    Histogram,
}

/// <summary>One instrument and its series.</summary>
public sealed class InstrumentState
{
    private readonly Lock _gate = new();
    private Series[] _series = [];

    internal InstrumentState(Instrument instrument, MetricKind kind)
    {
        Instrument = instrument;
        Kind = kind;
        // An observable instrument reports its whole value at each observation, and a Gauge<T> its last value: set,
        // not added.
        Absolute = instrument.IsObservable || instrument.GetType().GetGenericTypeDefinition() == typeof(Gauge<>);
        Buckets = kind == MetricKind.Histogram
            ? (instrument as Histogram<double>)?.Advice?.HistogramBucketBoundaries?.ToArray()
              ?? (instrument as Histogram<long>)?.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray()
              ?? MeterCollector.DefaultBuckets
            : [];
    }

    public Instrument Instrument { get; }
    public MetricKind Kind { get; }

    /// <summary>Whether each measurement is the series' value (observable instruments, gauges) rather than an increment.</summary>
    public bool Absolute { get; }

    /// <summary>Upper bounds of the histogram buckets (without +Inf); empty for other kinds.</summary>
    public double[] Buckets { get; }

    /// <summary>The series seen so far, in the order they appeared.</summary>
    public IReadOnlyList<Series> Series => Volatile.Read(ref _series);

    internal void Record(long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var s = Find(tags);
        if (Kind == MetricKind.Histogram)
        {
            s.Observe(value, Buckets);
        }
        else if (Absolute)
        {
            s.Set(value);
        }
        else
        {
            Interlocked.Add(ref s.LongSum, value);
        }
    }

    internal void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var s = Find(tags);
        if (Kind == MetricKind.Histogram)
        {
            s.Observe(value, Buckets);
        }
        else if (Absolute)
        {
            s.Set(value);
        }
        else
        {
            s.AddDouble(value);
        }
    }

    private Series Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var all = Volatile.Read(ref _series);
        for (var i = 0; i < all.Length; i++)
        {
            if (all[i].Matches(tags))
            {
                return all[i];
            }
        }
        lock (_gate)
        {
            all = _series;
            for (var i = 0; i < all.Length; i++)
            {
                if (all[i].Matches(tags))
                {
                    return all[i];
                }
            }
            if (all.Length >= MeterCollector.MaxSeriesPerInstrument)
            {
                return all[^1];
            }
            var created = new Series(tags, Kind == MetricKind.Histogram ? Buckets.Length + 1 : 0);
            Volatile.Write(ref _series, [.. all, created]);
            return created;
        }
    }
}

/// <summary>One tag set of an instrument and its running value.</summary>
public sealed class Series
{
    internal long LongSum;
    private readonly KeyValuePair<string, string>[] _labels;
    private double _doubleSum;
    private readonly long[] _bucketCounts;
    private readonly Lock _gate = new();
    private double _histogramSum;
    private long _histogramCount;

    internal Series(ReadOnlySpan<KeyValuePair<string, object?>> tags, int bucketSlots)
    {
        var labels = new KeyValuePair<string, string>[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            labels[i] = new(tags[i].Key, TagText(tags[i].Value));
        }
        Array.Sort(labels, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        _labels = labels;
        _bucketCounts = new long[bucketSlots];
    }

    /// <summary>Tag names and values, sorted by name.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Labels => _labels;

    /// <summary>An observed value: replaces the series' value.</summary>
    internal void Set(long value)
    {
        lock (_gate)
        {
            Volatile.Write(ref _doubleSum, 0);
            Interlocked.Exchange(ref LongSum, value);
        }
    }

    /// <inheritdoc cref="Set(long)"/>
    internal void Set(double value)
    {
        lock (_gate)
        {
            Interlocked.Exchange(ref LongSum, 0);
            Volatile.Write(ref _doubleSum, value);
        }
    }

    /// <summary>Counter or gauge: the sum of every measurement (an observed one: its last value).</summary>
    public double Value => Interlocked.Read(ref LongSum) + Volatile.Read(ref _doubleSum);

    /// <summary>Histogram: per-bucket counts (not cumulative; the last slot is above the last bound), sum and count, read together.</summary>
    public (long[] Counts, double Sum, long Count) Histogram()
    {
        lock (_gate)
        {
            return ((long[])_bucketCounts.Clone(), _histogramSum, _histogramCount);
        }
    }

    internal bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = _labels;
        if (labels.Length != tags.Length)
        {
            return false;
        }
        foreach (var tag in tags)
        {
            var found = false;
            for (var i = 0; i < labels.Length; i++)
            {
                if (string.Equals(labels[i].Key, tag.Key, StringComparison.Ordinal))
                {
                    found = tag.Value is string s ? string.Equals(labels[i].Value, s, StringComparison.Ordinal) : labels[i].Value == TagText(tag.Value);
                    break;
                }
            }
            if (!found)
            {
                return false;
            }
        }
        return true;
    }

    internal void AddDouble(double value)
    {
        double seen, updated;
        do
        {
            seen = Volatile.Read(ref _doubleSum);
            updated = seen + value;
        }
        while (Interlocked.CompareExchange(ref _doubleSum, updated, seen) != seen);
    }

    internal void Observe(double value, double[] bounds)
    {
        var slot = bounds.Length;
        for (var i = 0; i < bounds.Length; i++)
        {
            if (value <= bounds[i])
            {
                slot = i;
                break;
            }
        }
        lock (_gate)
        {
            _bucketCounts[slot]++;
            _histogramSum += value;
            _histogramCount++;
        }
    }

    private static string TagText(object? value) => value switch
    {
        null => "",
        string s => s,
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
