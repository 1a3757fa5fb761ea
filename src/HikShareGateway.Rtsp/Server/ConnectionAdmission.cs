using System.Collections.Concurrent;
using System.Net;

namespace HikShareGateway.Rtsp.Server;

/// <summary>
/// The limits of the viewer server's connections (issue 17 point 1: one client must not lock out every new viewer).
/// </summary>
/// <param name="MaxAuthenticated">Connections whose viewer has authenticated (playing or about to): <c>Rtsp:MaxConnections</c>.</param>
/// <param name="MaxUnauthenticated">Connections not yet authenticated, all addresses together: a pool of their own, so
/// however many a client opens, authenticated sessions are never crowded out.</param>
/// <param name="MaxUnauthenticatedPerAddress">Unauthenticated connections of one remote address, so that one client cannot
/// take the whole unauthenticated pool from the other viewers.</param>
/// <param name="HandshakeTimeout">The handshake budget of an unauthenticated connection: a request it has begun must be
/// complete within it (counted from the request's first byte: slowloris), RTSPS's TLS handshake must finish within it,
/// and while its pool is under pressure (<see cref="ConnectionAdmission.UnderPressure"/>) it may wait idle no longer than
/// this for its next request; otherwise an idle unauthenticated connection is held up to the idle timeout.</param>
public sealed record ConnectionLimits(int MaxAuthenticated, int MaxUnauthenticated, int MaxUnauthenticatedPerAddress, TimeSpan HandshakeTimeout)
{
    /// <summary>How often what the limits refused and closed is logged (one warning with counts, when there was any). Default 10 s.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(10);

    public static ConnectionLimits Default { get; } = new(2000, 256, 64, TimeSpan.FromSeconds(5));
}

/// <summary>The viewer server's settings from <c>Rtsp</c>: its connection limits, each viewer's queue, the idle timeout.</summary>
public sealed record ViewerServerSettings(ConnectionLimits Limits, ViewerQueueLimits QueueLimits, TimeSpan IdleTimeout);

/// <summary>Why a connection was refused or closed by the limits (the counts of <see cref="ConnectionAdmission"/>).</summary>
public enum AdmissionOutcome
{
    Admitted,
    /// <summary>The unauthenticated pool is full.</summary>
    UnauthenticatedPoolFull,
    /// <summary>The remote address holds its share of unauthenticated connections already.</summary>
    PerAddressCap,
    /// <summary>The authenticated pool (<c>Rtsp:MaxConnections</c>) is full.</summary>
    AuthenticatedPoolFull,
}

/// <summary>
/// Admission of viewer connections into two pools: a connection enters the small unauthenticated pool when accepted
/// (capped per remote address) and moves to the authenticated pool when its viewer first authenticates. Pure
/// bookkeeping (no sockets, no clock), thread-safe; the server asks, the connection holds an <see cref="AdmissionTicket"/>
/// that gives its slot back once. Counts of refusals and closes are kept for the aggregated warning
/// (<see cref="TakeCounts"/>) rather than one log line each.
/// </summary>
public sealed class ConnectionAdmission(ConnectionLimits limits)
{
    private const int MaxTrackedRefusedAddresses = 1024;
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private readonly Lock _countsGate = new();
    private Dictionary<IPAddress, int> _refusedBy = [];
    private AdmissionCounts _counts;
    private int _unauthenticated;
    private int _authenticated;

    public ConnectionLimits Limits => limits;
    public int Unauthenticated => Volatile.Read(ref _unauthenticated);
    public int Authenticated => Volatile.Read(ref _authenticated);

    /// <summary>A new connection from <paramref name="address"/> (null: unknown, counted under <see cref="IPAddress.None"/>).</summary>
    public AdmissionOutcome TryAdmit(IPAddress? address, out AdmissionTicket? ticket)
    {
        ticket = null;
        address = Normalize(address);
        if (Interlocked.Increment(ref _unauthenticated) > limits.MaxUnauthenticated)
        {
            Interlocked.Decrement(ref _unauthenticated);
            return Refused(AdmissionOutcome.UnauthenticatedPoolFull, address);
        }
        if (_perAddress.AddOrUpdate(address, 1, static (_, n) => n + 1) > limits.MaxUnauthenticatedPerAddress)
        {
            LeaveAddress(address);
            Interlocked.Decrement(ref _unauthenticated);
            return Refused(AdmissionOutcome.PerAddressCap, address);
        }
        ticket = new AdmissionTicket(this, address);
        return AdmissionOutcome.Admitted;
    }

    /// <summary>
    /// Whether unauthenticated connections that wait idle past the handshake budget should give their slot back: the
    /// unauthenticated pool is at least half full, or <paramref name="address"/> holds at least half of its share. Below
    /// that nobody needs the slot, and a slow viewer (or an overloaded gateway, whose own delay would count against the
    /// viewer) keeps it up to the idle timeout; at or above it, idle connections beyond the budget can hold at most half
    /// of either, so a new viewer always finds room.
    /// </summary>
    public bool UnderPressure(IPAddress? address)
    {
        if (Unauthenticated * 2 >= limits.MaxUnauthenticated)
        {
            return true;
        }
        return _perAddress.TryGetValue(Normalize(address), out var n) && n * 2 >= limits.MaxUnauthenticatedPerAddress;
    }

    /// <summary>Counts a connection closed because it sent no complete request within the handshake budget.</summary>
    public void CountHandshakeTimeout() => Count(static (ref AdmissionCounts c) => c.HandshakeTimeouts++);

    /// <summary>Counts an authenticated connection closed for staying idle without a playing session.</summary>
    public void CountIdleClose() => Count(static (ref AdmissionCounts c) => c.IdleCloses++);

    /// <summary>The counts since the last call (then zero), and the address refused most often in that time.</summary>
    public AdmissionCounts TakeCounts()
    {
        lock (_countsGate)
        {
            var counts = _counts;
            var top = (Address: (IPAddress?)null, Count: 0);
            foreach (var (a, n) in _refusedBy)
            {
                if (n > top.Count)
                {
                    top = (a, n);
                }
            }
            counts.TopRefusedAddress = top.Address;
            counts.TopRefusedCount = top.Count;
            _counts = default;
            if (_refusedBy.Count > 0)
            {
                _refusedBy = [];
            }
            return counts;
        }
    }

    internal bool TryPromote(IPAddress address)
    {
        if (Interlocked.Increment(ref _authenticated) > limits.MaxAuthenticated)
        {
            Interlocked.Decrement(ref _authenticated);
            Refused(AdmissionOutcome.AuthenticatedPoolFull, address);
            return false;
        }
        LeaveAddress(address);
        Interlocked.Decrement(ref _unauthenticated);
        return true;
    }

    internal void Release(IPAddress address, bool authenticated)
    {
        if (authenticated)
        {
            Interlocked.Decrement(ref _authenticated);
            return;
        }
        LeaveAddress(address);
        Interlocked.Decrement(ref _unauthenticated);
    }

    private AdmissionOutcome Refused(AdmissionOutcome outcome, IPAddress address)
    {
        lock (_countsGate)
        {
            switch (outcome)
            {
                case AdmissionOutcome.UnauthenticatedPoolFull:
                    _counts.UnauthenticatedPoolFull++;
                    break;
                case AdmissionOutcome.PerAddressCap:
                    _counts.PerAddressCap++;
                    break;
                default:
                    _counts.AuthenticatedPoolFull++;
                    break;
            }
            // Bounded under a spray of addresses: past the bound only addresses already seen are counted.
            if (_refusedBy.TryGetValue(address, out var n) || _refusedBy.Count < MaxTrackedRefusedAddresses)
            {
                _refusedBy[address] = n + 1;
            }
        }
        return outcome;
    }

    private delegate void CountUpdate(ref AdmissionCounts counts);

    private void Count(CountUpdate update)
    {
        lock (_countsGate)
        {
            update(ref _counts);
        }
    }

    private void LeaveAddress(IPAddress address)
    {
        // The entry goes when it drops to zero, so that a spray of addresses does not grow the map.
        while (_perAddress.TryGetValue(address, out var n))
        {
            if (n <= 1 ? _perAddress.TryRemove(KeyValuePair.Create(address, n)) : _perAddress.TryUpdate(address, n - 1, n))
            {
                return;
            }
        }
    }

    private static IPAddress Normalize(IPAddress? address)
        => address is null ? IPAddress.None : address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>What the limits did in one reporting interval.</summary>
public struct AdmissionCounts
{
    public int UnauthenticatedPoolFull;
    public int PerAddressCap;
    public int AuthenticatedPoolFull;
    public int HandshakeTimeouts;
    public int IdleCloses;
    public IPAddress? TopRefusedAddress;
    public int TopRefusedCount;

    public readonly int Refused => UnauthenticatedPoolFull + PerAddressCap + AuthenticatedPoolFull;
    public readonly bool IsEmpty => Refused == 0 && HandshakeTimeouts == 0 && IdleCloses == 0;
}

/// <summary>One connection's slot: unauthenticated until <see cref="TryAuthenticate"/>, given back once by <see cref="Dispose"/>.</summary>
public sealed class AdmissionTicket : IDisposable
{
    private readonly ConnectionAdmission _admission;
    private readonly IPAddress _address;
    private int _state; // 0 unauthenticated, 1 authenticated, 2 released

    internal AdmissionTicket(ConnectionAdmission admission, IPAddress address)
    {
        _admission = admission;
        _address = address;
    }

    public bool IsAuthenticated => Volatile.Read(ref _state) == 1;

    /// <summary>The handshake budget of this connection while it is unauthenticated.</summary>
    public TimeSpan HandshakeTimeout => _admission.Limits.HandshakeTimeout;

    /// <summary>
    /// Moves the connection to the authenticated pool (once; later calls answer true). False when that pool is full:
    /// the connection stays unauthenticated and should be refused (503).
    /// </summary>
    public bool TryAuthenticate()
    {
        var state = Volatile.Read(ref _state);
        if (state != 0)
        {
            return state == 1;
        }
        if (!_admission.TryPromote(_address))
        {
            return false;
        }
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            _admission.Release(_address, authenticated: true); // released meanwhile: give the new slot back
            return false;
        }
        return true;
    }

    /// <summary>Whether this connection's pool or its address's share is under pressure (<see cref="ConnectionAdmission.UnderPressure"/>).</summary>
    public bool UnderPressure => _admission.UnderPressure(_address);

    public void CountHandshakeTimeout() => _admission.CountHandshakeTimeout();

    public void CountIdleClose() => _admission.CountIdleClose();

    public void Dispose()
    {
        var previous = Interlocked.Exchange(ref _state, 2);
        if (previous != 2)
        {
            _admission.Release(_address, previous == 1);
        }
    }
}
