using System.Collections;
using HikShareGateway.WebRtc.Sdp;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>
/// The candidates every answer carries, replaced once when gathering ends: the host candidates from the start, then
/// those plus the server-reflexive and relayed ones (<see cref="IceGatherer"/>, run by the host after the mux started,
/// since STUN and TURN answers arrive through its receive loop). An answer enumerates one consistent list.
/// </summary>
public sealed class GatheredCandidates(IReadOnlyList<SdpCandidate> initial) : IReadOnlyList<SdpCandidate>
{
    private volatile SdpCandidate[] _items = [.. initial];

    public void Set(IReadOnlyList<SdpCandidate> candidates) => _items = [.. candidates];

    public SdpCandidate this[int index] => _items[index];

    public int Count => _items.Length;

    public IEnumerator<SdpCandidate> GetEnumerator() => ((IEnumerable<SdpCandidate>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
