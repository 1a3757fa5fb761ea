using System.Diagnostics.Metrics;
using HikShareGateway.Core.Diagnostics;

namespace HikShareGateway.Tests.Infrastructure;

/// <summary>
/// An <see cref="IMeterFactory"/> of one test: the meters it creates belong to it (their scope), so a test that reads
/// <see cref="GatewayMetrics"/> sees its own values only, whatever runs in parallel.
/// </summary>
public sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    /// <summary>A fresh <see cref="GatewayMetrics"/> on a factory of its own (never disposed: a test's meters end with the process).</summary>
    public static GatewayMetrics NewMetrics() => new(new TestMeterFactory());

    public Meter Create(MeterOptions options)
    {
        var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
        lock (_meters)
        {
            _meters.Add(meter);
        }
        return meter;
    }

    public void Dispose()
    {
        lock (_meters)
        {
            foreach (var m in _meters)
            {
                m.Dispose();
            }
            _meters.Clear();
        }
    }
}
