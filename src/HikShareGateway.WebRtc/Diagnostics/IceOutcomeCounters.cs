using HikShareGateway.WebRtc.Ice;

namespace HikShareGateway.WebRtc.Diagnostics;

/// <summary>
/// ICE outcomes by candidate type (issue 12: "ICE outcome by candidate type"): one counter per (local type,
/// remote type) of the selected pair, and the sessions that ended without a selected pair. Lock-free
/// increments; one instance per mux, read by the metrics export (the host's, later).
/// </summary>
public sealed class IceOutcomeCounters
{
    private static readonly int Types = Enum.GetValues<IceCandidateType>().Length;
    private readonly long[] _selected = new long[Types * Types];
    private long _failed;

    public void CountSelected(IceCandidateType local, IceCandidateType remote)
        => Interlocked.Increment(ref _selected[(int)local * Types + (int)remote]);

    public void CountFailed() => Interlocked.Increment(ref _failed);

    /// <summary>Sessions whose nominated pair had these candidate types.</summary>
    public long Selected(IceCandidateType local, IceCandidateType remote) => Interlocked.Read(ref _selected[(int)local * Types + (int)remote]);

    /// <summary>Sessions that closed with no nominated pair (checks failed, consent never given).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Every non-zero (local, remote, count), for an exporter.</summary>
    public IReadOnlyList<(IceCandidateType Local, IceCandidateType Remote, long Count)> Snapshot()
    {
        var list = new List<(IceCandidateType, IceCandidateType, long)>();
        for (var l = 0; l < Types; l++)
        {
            for (var r = 0; r < Types; r++)
            {
                var n = Interlocked.Read(ref _selected[l * Types + r]);
                if (n != 0) list.Add(((IceCandidateType)l, (IceCandidateType)r, n));
            }
        }
        return list;
    }
}
