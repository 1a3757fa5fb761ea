using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Stun;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>RFC 8445 §6.1.1: which agent nominates. The browser offers, so it controls and we are controlled.</summary>
public enum IceRole
{
    Controlled,
    Controlling,
}

/// <summary>RFC 8445 §6.1.2.6 pair states (Frozen is not used: one component, one data stream, see remarks of <see cref="IceAgent"/>).</summary>
public enum IcePairState
{
    Waiting,
    InProgress,
    Succeeded,
    Failed,
}

/// <summary>How the agent sends: the mux socket or a TURN allocation, and the routing of responses back to it.</summary>
public interface IIceTransport
{
    /// <summary>Sends one STUN datagram from <paramref name="via"/> to <paramref name="to"/> (drop silently on failure).</summary>
    void Send(IceBase via, IPEndPoint to, ReadOnlySpan<byte> datagram);

    /// <summary>From now on, responses with this transaction id go to this agent's <see cref="IceAgent.HandleResponse"/>.</summary>
    void Expect(StunTransactionId id);

    /// <summary>The transaction is over (answered, timed out, or the agent closed).</summary>
    void Forget(StunTransactionId id);
}

/// <summary>Tuning of the full agent. Defaults follow RFC 8445 §14 and RFC 7675 §5.1.</summary>
public sealed record IceAgentOptions
{
    /// <summary>ICE-lite (RFC 8445 §2.5): answer checks only, never send any; consent from the browser's checks.</summary>
    public bool Lite { get; init; }

    /// <summary>Ta, the pacing of new checks (RFC 8445 §14.2: 50 ms by default).</summary>
    public TimeSpan Pacing { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>First retransmission timeout of a check (RFC 8445 §14.3: at least 500 ms), doubled each time.</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Transmissions of one check before its pair fails (RFC 8489 Rc is 7; browsers give up sooner).</summary>
    public int MaxTransmissions { get; init; } = 7;

    /// <summary>RFC 7675 §5.1: a consent request every 5 s (randomised ±20 %) on the selected pair.</summary>
    public TimeSpan ConsentInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>RFC 7675 §5.1: 30 s without a consent response ends the session.</summary>
    public TimeSpan ConsentTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>RFC 8445 §6.1.2.5: the check list is limited (100 pairs by default); remote candidates past it are ignored.</summary>
    public int MaxPairs { get; init; } = 100;

    /// <summary>The role to start in: controlled, as the answerer to a browser's offer (RFC 8445 §6.1.1).</summary>
    public IceRole InitialRole { get; init; } = IceRole.Controlled;

    /// <summary>The role tie-breaker; random when null (RFC 8445 §6.1.1: a 64-bit random number).</summary>
    public ulong? TieBreaker { get; init; }

    /// <summary>Where the selected pair's candidate types are counted (shared per mux); none when null.</summary>
    public IceOutcomeCounters? Outcomes { get; init; }
}

/// <summary>A candidate pair of the check list (RFC 8445 §6.1.2). Read-only outside the agent.</summary>
public sealed class IceCandidatePair
{
    internal IceCandidatePair(IceBase local, IceCandidate remote) => (Local, Remote) = (local, remote);

    public IceBase Local { get; }
    public IceCandidate Remote { get; }
    public ulong Priority { get; internal set; }
    public IcePairState State { get; internal set; }
    /// <summary>The controlling side nominated it (USE-CANDIDATE seen and the pair valid).</summary>
    public bool Nominated { get; internal set; }

    internal StunTransactionId Transaction;
    internal int Transmissions;
    internal long NextRetransmit;
    internal TimeSpan Rto;
    internal bool NominateOnSuccess; // controlled: USE-CANDIDATE came before our check on this pair succeeded
    internal bool UseCandidate;      // controlling: this check carries USE-CANDIDATE
    internal bool Triggered;

    public override string ToString() => $"{Local} -> {Remote.Address} ({IceCandidate.TypeToken(Remote.Type)}) {State}{(Nominated ? " nominated" : "")}";
}

/// <summary>
/// One session's ICE agent (RFC 8445), full by default, ICE-lite as an option. Full: pairs our bases (the mux
/// socket, TURN allocations) with the offer's and trickled remote candidates, sends paced connectivity checks
/// (one new check per Ta, retransmitted with a doubling RTO), answers the browser's checks with triggered checks
/// of their pair (peer-reflexive remote candidates learnt on the way), resolves role conflicts with the
/// tie-breaker (§7.3.1.1, 487), accepts the controlling browser's nomination (§8.1.1, USE-CANDIDATE on a valid
/// pair) — or nominates itself if a role conflict made it controlling — and keeps consent on the selected pair
/// (RFC 7675: a Binding request every ~5 s, 30 s without a response ends the session).
/// Pure: time comes from the injected <see cref="TimeProvider"/> (its timer drives pacing), datagrams leave
/// through <see cref="IIceTransport"/> and arrive through <see cref="HandleRequest(in StunMessage, IceBase, IPEndPoint, Span{byte}, out int)"/>
/// and <see cref="HandleResponse"/>; thread-safe (one lock; events are raised outside it).
/// </summary>
/// <remarks>
/// With one component and one data stream (BUNDLE, rtcp-mux) the frozen algorithm (§6.1.2.6) would unfreeze one
/// pair per foundation at once and the rest as those succeed; every pair starts Waiting instead, which the RFC's
/// pacing still bounds (one new check per Ta), and which reaches a working pair sooner when the first foundations
/// are blocked by a NAT.
/// </remarks>
public class IceAgent
{
    private const int ResponseBuffer = 256;
    private readonly Lock _gate = new();
    private readonly byte[] _localPwd;
    private readonly byte[] _remotePwd;
    private readonly byte[] _expectedUsername;
    private readonly string _outgoingUsername;
    private readonly TimeProvider _time;
    private readonly DropCounters _drops;
    private readonly IceAgentOptions _options;
    private readonly IIceTransport? _transport;
    private readonly List<IceBase> _bases = [];
    private readonly List<IceCandidate> _remotes = [];
    private readonly List<IceCandidatePair> _pairs = []; // sorted by priority, highest first
    private readonly Queue<IceCandidatePair> _triggered = new();
    private readonly Dictionary<StunTransactionId, IceCandidatePair> _checks = [];
    private readonly List<IPEndPoint> _validated = new(MaxValidated);
    private const int MaxValidated = 8;
    private readonly ulong _tieBreaker;
    private ITimer? _timer;
    private bool _fastTimer;
    private long _lastConsentTimestamp;
    private long _nextConsentTimestamp;
    private StunTransactionId? _consentTransaction;
    private bool _outcomeCounted;

    /// <summary>A full agent (or lite, by <see cref="IceAgentOptions.Lite"/>); call <see cref="Start"/> once the transport routes to it.</summary>
    public IceAgent(IceCredentials local, string remoteUfrag, string remotePwd, IceAgentOptions options, TimeProvider time,
        DropCounters drops, IIceTransport? transport)
    {
        if (!options.Lite && transport is null) throw new ArgumentException("A full ICE agent needs a transport.", nameof(transport));
        Local = local;
        RemoteUfrag = remoteUfrag;
        _localPwd = Encoding.UTF8.GetBytes(local.Pwd);
        _remotePwd = Encoding.UTF8.GetBytes(remotePwd);
        // RFC 8445 §7.2.2: USERNAME of a request to us is "our ufrag:their ufrag", of ours to them the reverse.
        _expectedUsername = Encoding.UTF8.GetBytes(local.Ufrag + ":" + remoteUfrag);
        _outgoingUsername = remoteUfrag + ":" + local.Ufrag;
        _time = time;
        _drops = drops;
        _options = options;
        _transport = transport;
        Role = options.Lite ? IceRole.Controlled : options.InitialRole;
        _tieBreaker = options.TieBreaker ?? BinaryPrimitives.ReadUInt64BigEndian(RandomNumberGenerator.GetBytes(8));
        // Until the first valid check, "consent" dates from the answer: a browser that never connects
        // does not leave the session registered forever.
        _lastConsentTimestamp = time.GetTimestamp();
    }

    public IceCredentials Local { get; }
    public string RemoteUfrag { get; }
    public bool IsLite => _options.Lite;
    public IceRole Role { get; private set; }
    public IceState State { get; private set; }

    /// <summary>The nominated remote address (media goes there), or the first valid one before nomination.</summary>
    public IPEndPoint? SelectedRemote { get; private set; }

    /// <summary>The base media to <see cref="SelectedRemote"/> leaves from (the mux socket when null).</summary>
    public IceBase? SelectedBase { get; private set; }

    /// <summary>The nominated pair (full agent), null before nomination or in lite mode.</summary>
    public IceCandidatePair? SelectedPair { get; private set; }

    /// <summary>Raised when the state changes (on the thread that handled the datagram or the timer), outside the agent's lock.</summary>
    public event Action<IceState>? StateChanged;

    /// <summary>A copy of the check list, highest priority first (diagnostics and tests).</summary>
    public IReadOnlyList<IceCandidatePair> Pairs
    {
        get { lock (_gate) return [.. _pairs]; }
    }

    /// <summary>The ufrag a request is addressed to: the part of USERNAME before the colon.</summary>
    public static ReadOnlySpan<byte> TargetUfrag(scoped in StunMessage message)
    {
        var u = message.Username;
        var colon = u.IndexOf((byte)':');
        return colon < 0 ? u : u[..colon];
    }

    // ---------------------------------------------------------------- candidates

    /// <summary>Adds a local base (the mux socket, a TURN allocation) and pairs it with every remote candidate.</summary>
    public void AddLocalBase(IceBase localBase)
    {
        lock (_gate)
        {
            if (_options.Lite || _bases.Contains(localBase)) return;
            _bases.Add(localBase);
            foreach (var remote in _remotes) AddPair(localBase, remote);
        }
    }

    /// <summary>
    /// Adds a remote candidate from the offer or trickled later (WHEP PATCH, MQTT signalling). False when it is
    /// not usable (TCP, mDNS name, other component), already known, or the check list is full.
    /// </summary>
    public bool AddRemoteCandidate(IceCandidate candidate)
    {
        lock (_gate)
        {
            if (_options.Lite || State == IceState.Closed) return false;
            if (FindRemote(candidate.Address) is { } known)
            {
                // RFC 8445 §7.3.1.3: a signalled candidate replaces the peer-reflexive one learnt from a check.
                return false;
            }
            // Trickled candidates come from the network: bounded like the check list.
            if (_remotes.Count >= _options.MaxPairs) return false;
            _remotes.Add(candidate);
            var added = false;
            foreach (var b in _bases) added |= AddPair(b, candidate) is not null;
            return added;
        }
    }

    /// <summary>Parses and adds SDP candidate lines; returns how many became pairs.</summary>
    public int AddRemoteCandidates(IEnumerable<string> sdpCandidates)
    {
        var n = 0;
        foreach (var line in sdpCandidates)
        {
            if (IceCandidate.TryParse(line, out var c) && AddRemoteCandidate(c)) n++;
        }
        return n;
    }

    /// <summary>Starts pacing checks (full agent). Idempotent.</summary>
    public void Start()
    {
        lock (_gate)
        {
            if (_options.Lite || _timer is not null || State == IceState.Closed) return;
            _fastTimer = true;
            _timer = _time.CreateTimer(_ => OnTimer(), null, TimeSpan.Zero, _options.Pacing);
        }
    }

    private IceCandidate? FindRemote(IPEndPoint address)
    {
        foreach (var r in _remotes)
        {
            if (r.Address.Equals(address)) return r;
        }
        return null;
    }

    private IceCandidatePair? FindPair(IceBase localBase, IPEndPoint remote)
    {
        foreach (var p in _pairs)
        {
            if (ReferenceEquals(p.Local, localBase) && p.Remote.Address.Equals(remote)) return p;
        }
        return null;
    }

    private IceCandidatePair? AddPair(IceBase localBase, IceCandidate remote)
    {
        if (_pairs.Count >= _options.MaxPairs) return null;
        if (localBase.Address is { } relayed && relayed.AddressFamily != remote.Address.AddressFamily) return null;
        if (FindPair(localBase, remote.Address) is { } existing) return existing;
        var pair = new IceCandidatePair(localBase, remote) { Priority = PairPriority(localBase.Priority, remote.Priority) };
        var i = 0;
        while (i < _pairs.Count && _pairs[i].Priority >= pair.Priority) i++;
        _pairs.Insert(i, pair);
        EnsureFastTimer();
        return pair;
    }

    /// <summary>RFC 8445 §6.1.2.3: 2^32·MIN(G,D) + 2·MAX(G,D) + (G&gt;D ? 1 : 0), G the controlling side's priority.</summary>
    private ulong PairPriority(uint local, uint remote)
    {
        ulong g = Role == IceRole.Controlling ? local : remote;
        ulong d = Role == IceRole.Controlling ? remote : local;
        return (Math.Min(g, d) << 32) + 2 * Math.Max(g, d) + (g > d ? 1UL : 0UL);
    }

    private void RecomputePriorities()
    {
        foreach (var p in _pairs) p.Priority = PairPriority(p.Local.Priority, p.Remote.Priority);
        _pairs.Sort((a, b) => b.Priority.CompareTo(a.Priority));
    }

    // ---------------------------------------------------------------- requests from the peer

    /// <summary>Handles a Binding request that came to the mux socket; see the overload with a base.</summary>
    public IceCheckOutcome HandleRequest(scoped in StunMessage request, IPEndPoint remote, Span<byte> response, out int responseLength)
    {
        IceBase? direct;
        lock (_gate) direct = DirectBase();
        return HandleRequest(request, direct, remote, response, out responseLength);
    }

    /// <summary>
    /// Handles a parsed Binding request from <paramref name="remote"/> that arrived through <paramref name="via"/>
    /// (null: the mux socket); writes the answer into <paramref name="response"/> for the transport to send back
    /// the way it came.
    /// </summary>
    public IceCheckOutcome HandleRequest(scoped in StunMessage request, IceBase? via, IPEndPoint remote, Span<byte> response, out int responseLength)
    {
        responseLength = 0;
        IceState previous, now;
        IceCheckOutcome outcome;
        lock (_gate)
        {
            previous = State;
            outcome = HandleRequestLocked(request, via, remote, response, out responseLength);
            now = State;
        }
        if (now != previous) Raise(now);
        return outcome;
    }

    private IceCheckOutcome HandleRequestLocked(scoped in StunMessage request, IceBase? via, IPEndPoint remote, Span<byte> response, out int responseLength)
    {
        responseLength = 0;
        if (State == IceState.Closed) return IceCheckOutcome.Closed;
        if (request.Method != StunMethod.Binding || request.Class != StunClass.Request) return IceCheckOutcome.Ignored;
        if (!request.Username.SequenceEqual(_expectedUsername))
        {
            _drops.Count(DropReason.StunUnknownUsername);
            return IceCheckOutcome.WrongUsername;
        }
        // RFC 8445 §7.3: checks carry FINGERPRINT and short-term MESSAGE-INTEGRITY; anything else is not a check.
        if (!request.HasFingerprint || !request.VerifyIntegrity(_localPwd))
        {
            _drops.Count(DropReason.StunBadIntegrity);
            return IceCheckOutcome.BadIntegrity;
        }
        if (request.UnknownRequiredAttribute != 0)
        {
            _drops.Count(DropReason.StunUnknownComprehensionRequired);
            var e = new StunWriter(response, StunMethod.Binding, StunClass.ErrorResponse, request.TransactionId);
            e.AddErrorCode(420, "Unknown Attribute");
            Span<byte> unknown = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16BigEndian(unknown, request.UnknownRequiredAttribute);
            e.AddAttribute(StunAttribute.UnknownAttributes, unknown);
            e.AddMessageIntegrity(_localPwd);
            e.AddFingerprint();
            responseLength = e.Length;
            return IceCheckOutcome.AnsweredUnknownAttribute;
        }
        if (!_options.Lite && RoleConflict(request))
        {
            // RFC 8445 §7.3.1.1: we keep our role, the peer must switch.
            var e = new StunWriter(response, StunMethod.Binding, StunClass.ErrorResponse, request.TransactionId);
            e.AddErrorCode(487, "Role Conflict");
            e.AddMessageIntegrity(_localPwd);
            e.AddFingerprint();
            responseLength = e.Length;
            return IceCheckOutcome.AnsweredRoleConflict;
        }

        var w = new StunWriter(response, StunMethod.Binding, StunClass.SuccessResponse, request.TransactionId);
        w.AddXorAddress(StunAttribute.XorMappedAddress, remote);
        w.AddMessageIntegrity(_localPwd);
        w.AddFingerprint();
        responseLength = w.Length;

        if (_validated.Count < MaxValidated && !_validated.Contains(remote)) _validated.Add(remote);
        if (_options.Lite)
        {
            SelectedRemote ??= remote;
            if (request.UseCandidate && State != IceState.Nominated)
            {
                SelectedRemote = remote;
                State = IceState.Nominated;
            }
            else if (State == IceState.New)
            {
                State = IceState.Connected;
            }
            if (remote.Equals(SelectedRemote)) Volatile.Write(ref _lastConsentTimestamp, _time.GetTimestamp());
            return IceCheckOutcome.Answered;
        }

        var localBase = via ?? DirectBase();
        if (localBase is null) return IceCheckOutcome.Answered; // no base yet: answered, nothing to pair
        if (SelectedRemote is null)
        {
            // Before any pair is valid our DTLS replies follow the address the browser's checks come from.
            SelectedRemote = remote;
            SelectedBase = localBase;
        }
        if (State == IceState.New) State = IceState.Connected;

        // RFC 8445 §7.3.1.3: an unknown source is a peer-reflexive candidate with the request's PRIORITY.
        var candidate = FindRemote(remote);
        if (candidate is null)
        {
            if (_remotes.Count >= _options.MaxPairs) return IceCheckOutcome.Answered; // answered, not paired
            candidate = new IceCandidate("prflx" + _remotes.Count, 1, request.HasPriority ? request.Priority : 1, remote, IceCandidateType.PeerReflexive);
            _remotes.Add(candidate);
        }
        var pair = FindPair(localBase, remote) ?? AddPair(localBase, candidate);
        if (pair is null) return IceCheckOutcome.Answered;

        // RFC 8445 §7.3.1.4: a triggered check, unless the pair already works or a check is under way.
        if (pair.State is IcePairState.Waiting or IcePairState.Failed && !pair.Triggered)
        {
            pair.State = IcePairState.Waiting;
            pair.Triggered = true;
            _triggered.Enqueue(pair);
            EnsureFastTimer();
        }
        // RFC 8445 §7.3.1.5: the controlling side's USE-CANDIDATE nominates a valid pair, or the pair once valid.
        if (request.UseCandidate && Role == IceRole.Controlled)
        {
            if (pair.State == IcePairState.Succeeded) Nominate(pair);
            else pair.NominateOnSuccess = true;
        }
        return IceCheckOutcome.Answered;
    }

    /// <summary>True when we answer 487; switches our role when the peer wins the tie-break.</summary>
    private bool RoleConflict(scoped in StunMessage request)
    {
        if (Role == IceRole.Controlling && request.HasIceControlling)
        {
            if (_tieBreaker >= request.TieBreaker) return true;
            SwitchRole(IceRole.Controlled);
        }
        else if (Role == IceRole.Controlled && request.HasIceControlled)
        {
            if (_tieBreaker >= request.TieBreaker) SwitchRole(IceRole.Controlling);
            else return true;
        }
        return false;
    }

    private void SwitchRole(IceRole role)
    {
        if (Role == role) return;
        Role = role;
        RecomputePriorities();
    }

    private IceBase? DirectBase()
    {
        foreach (var b in _bases)
        {
            if (b.Relay is null) return b;
        }
        return null;
    }

    // ---------------------------------------------------------------- responses to our checks

    /// <summary>
    /// A response (success or error) to one of our requests, from <paramref name="from"/> through
    /// <paramref name="via"/> (null: the mux socket). False when the transaction is not ours or the response is not
    /// authentic (dropped, the check carries on).
    /// </summary>
    public bool HandleResponse(scoped in StunMessage response, IceBase? via, IPEndPoint from)
    {
        IceState previous, now;
        bool handled;
        lock (_gate)
        {
            previous = State;
            handled = HandleResponseLocked(response, via, from);
            now = State;
        }
        if (now != previous) Raise(now);
        return handled;
    }

    private bool HandleResponseLocked(scoped in StunMessage response, IceBase? via, IPEndPoint from)
    {
        if (State == IceState.Closed || response.Method != StunMethod.Binding) return false;
        if (response.Class is not (StunClass.SuccessResponse or StunClass.ErrorResponse)) return false;
        var id = StunTransactionId.From(response.TransactionId);
        var consent = _consentTransaction == id;
        if (!consent && !_checks.ContainsKey(id)) return false;
        // RFC 8445 §7.2.5.1: responses are authenticated with the peer's password.
        if (!response.HasFingerprint || !response.VerifyIntegrity(_remotePwd))
        {
            _drops.Count(DropReason.StunBadIntegrity);
            return false;
        }
        var now = _time.GetTimestamp();
        if (consent)
        {
            _transport!.Forget(id);
            _consentTransaction = null;
            if (response.Class == StunClass.SuccessResponse) _lastConsentTimestamp = now;
            return true;
        }
        var pair = _checks[id];
        _checks.Remove(id);
        _transport!.Forget(id);
        if (pair.State != IcePairState.InProgress) return true;

        // RFC 8445 §7.2.5.2.1: the response must come from where the check went, through the same base.
        var sameBase = ReferenceEquals(via, pair.Local) || (via is null && pair.Local.Relay is null);
        if (!sameBase || !from.Equals(pair.Remote.Address))
        {
            pair.State = IcePairState.Failed;
            return true;
        }
        if (response.Class == StunClass.ErrorResponse)
        {
            if (response.TryGetErrorCode(out var code, out _) && code == 487)
            {
                // RFC 8445 §7.2.5.1: switch role and check this pair again.
                SwitchRole(Role == IceRole.Controlled ? IceRole.Controlling : IceRole.Controlled);
                pair.State = IcePairState.Waiting;
                pair.UseCandidate = false;
                if (!pair.Triggered)
                {
                    pair.Triggered = true;
                    _triggered.Enqueue(pair);
                }
                EnsureFastTimer();
                return true;
            }
            pair.State = IcePairState.Failed;
            return true;
        }

        pair.State = IcePairState.Succeeded;
        if (ReferenceEquals(pair, SelectedPair) || SelectedPair is null) _lastConsentTimestamp = now;
        if (State == IceState.New) State = IceState.Connected;
        if (SelectedPair is null && (SelectedRemote is null || !_validated.Contains(SelectedRemote)))
        {
            SelectedRemote = pair.Remote.Address;
            SelectedBase = pair.Local;
        }
        if (Role == IceRole.Controlled)
        {
            if (pair.NominateOnSuccess) Nominate(pair);
        }
        else if (pair.UseCandidate)
        {
            Nominate(pair);
        }
        else if (SelectedPair is null && !AnyNominating())
        {
            // Controlling after a role conflict: nominate the first valid pair (RFC 8445 §8.1.1), re-checked with USE-CANDIDATE.
            pair.UseCandidate = true;
            pair.State = IcePairState.Waiting;
            pair.Triggered = true;
            _triggered.Enqueue(pair);
            EnsureFastTimer();
        }
        return true;
    }

    private bool AnyNominating()
    {
        foreach (var p in _pairs)
        {
            if (p.UseCandidate) return true;
        }
        return false;
    }

    private void Nominate(IceCandidatePair pair)
    {
        pair.Nominated = true;
        // A later nomination replaces the selected pair only when it ranks higher (RFC 8445 §8.1.1 lets the
        // controlling agent nominate more than once; the highest-priority nominated pair is used).
        if (SelectedPair is { } current && current.Priority >= pair.Priority) return;
        SelectedPair = pair;
        SelectedRemote = pair.Remote.Address;
        SelectedBase = pair.Local;
        State = IceState.Nominated;
        _lastConsentTimestamp = _time.GetTimestamp();
        _nextConsentTimestamp = _lastConsentTimestamp + ConsentDelayTicks();
        if (!_outcomeCounted && _options.Outcomes is { } outcomes)
        {
            _outcomeCounted = true;
            outcomes.CountSelected(pair.Local.Type, pair.Local.RelayTransport, pair.Remote.Type);
        }
    }

    private long ConsentDelayTicks()
    {
        // RFC 7675 §5.1: randomised between 0.8 and 1.2 times the interval.
        var factor = 0.8 + 0.4 * Random.Shared.NextDouble();
        return (long)(_options.ConsentInterval.TotalSeconds * factor * _time.TimestampFrequency);
    }

    // ---------------------------------------------------------------- pacing

    private void OnTimer()
    {
        IceState previous, now;
        lock (_gate)
        {
            previous = State;
            Tick();
            now = State;
        }
        if (now != previous) Raise(now);
    }

    /// <summary>One Ta step: retransmissions that are due, one new check (triggered first), consent.</summary>
    private void Tick()
    {
        if (State == IceState.Closed) return;
        var now = _time.GetTimestamp();
        var busy = false;
        foreach (var pair in _pairs)
        {
            if (pair.State != IcePairState.InProgress) continue;
            busy = true;
            if (now < pair.NextRetransmit) continue;
            if (pair.Transmissions >= _options.MaxTransmissions)
            {
                pair.State = IcePairState.Failed;
                _checks.Remove(pair.Transaction);
                _transport!.Forget(pair.Transaction);
                continue;
            }
            pair.Rto *= 2;
            SendCheck(pair, now);
        }

        IceCandidatePair? next = null;
        while (_triggered.TryDequeue(out var t))
        {
            t.Triggered = false;
            if (t.State == IcePairState.Waiting) { next = t; break; }
        }
        if (next is null && SelectedPair is null)
        {
            foreach (var p in _pairs)
            {
                if (p.State == IcePairState.Waiting) { next = p; break; }
            }
        }
        if (next is not null)
        {
            busy = true;
            next.Transaction = StunTransactionId.New();
            next.Transmissions = 0;
            next.Rto = _options.InitialRto;
            next.State = IcePairState.InProgress;
            _checks[next.Transaction] = next;
            _transport!.Expect(next.Transaction);
            SendCheck(next, now);
        }

        if (SelectedPair is { } selected && now >= _nextConsentTimestamp)
        {
            if (_consentTransaction is { } old) _transport!.Forget(old);
            var id = StunTransactionId.New();
            _consentTransaction = id;
            _transport!.Expect(id);
            SendRequest(selected, id, useCandidate: false);
            _nextConsentTimestamp = now + ConsentDelayTicks();
        }
        CheckConsentLocked();

        // Past the checks, the timer only needs to serve consent: once a second is plenty.
        var wantFast = busy || _triggered.Count > 0 || (SelectedPair is null && HasWaiting());
        if (wantFast != _fastTimer && _timer is not null)
        {
            _fastTimer = wantFast;
            var period = wantFast ? _options.Pacing : TimeSpan.FromSeconds(1);
            _timer.Change(period, period);
        }
    }

    private bool HasWaiting()
    {
        foreach (var p in _pairs)
        {
            if (p.State == IcePairState.Waiting) return true;
        }
        return false;
    }

    private void EnsureFastTimer()
    {
        if (_timer is null || _fastTimer) return;
        _fastTimer = true;
        _timer.Change(_options.Pacing, _options.Pacing);
    }

    private void SendCheck(IceCandidatePair pair, long now)
    {
        pair.Transmissions++;
        // RFC 8489 §6.2.1: after the last transmission, wait Rm (16) times the initial RTO for a response.
        var wait = pair.Transmissions >= _options.MaxTransmissions ? _options.InitialRto * 16 : pair.Rto;
        pair.NextRetransmit = now + (long)(wait.TotalSeconds * _time.TimestampFrequency);
        SendRequest(pair, pair.Transaction, pair.UseCandidate);
    }

    private void SendRequest(IceCandidatePair pair, StunTransactionId id, bool useCandidate)
    {
        Span<byte> tid = stackalloc byte[12];
        id.WriteTo(tid);
        Span<byte> buffer = stackalloc byte[ResponseBuffer];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.Request, tid);
        w.AddString(StunAttribute.Username, _outgoingUsername);
        // RFC 8445 §7.1.1: PRIORITY as a peer-reflexive candidate of this base would have.
        var localPreference = pair.Local.Relay is null ? 65535 : 0;
        w.AddUInt32(StunAttribute.Priority, IceCandidate.ComputePriority(IceCandidateType.PeerReflexive, localPreference));
        w.AddUInt64(Role == IceRole.Controlling ? StunAttribute.IceControlling : StunAttribute.IceControlled, _tieBreaker);
        if (useCandidate && Role == IceRole.Controlling) w.AddFlag(StunAttribute.UseCandidate);
        w.AddMessageIntegrity(_remotePwd);
        w.AddFingerprint();
        _transport!.Send(pair.Local, pair.Remote.Address, w.Written);
    }

    // ---------------------------------------------------------------- consent and end

    /// <summary>
    /// Before nomination, follow the browser: when its DTLS arrives from another validated address, our replies
    /// go there (RFC 8445 §7.3.1.5 lets the controlled agent use any valid pair until one is nominated).
    /// </summary>
    public void PreferRemoteBeforeNomination(IPEndPoint remote)
    {
        lock (_gate)
        {
            if (State != IceState.Connected || remote.Equals(SelectedRemote) || !_validated.Contains(remote)) return;
            SelectedRemote = remote;
            Volatile.Write(ref _lastConsentTimestamp, _time.GetTimestamp());
        }
    }

    /// <summary>
    /// RFC 7675 §5.1: consent lapses 30 s after the last proof on the selected pair — a valid check from the
    /// browser (lite) or a response to our consent request (full) — or after the answer, when none ever came.
    /// The full agent checks this on its own timer too; the mux calls it every second.
    /// </summary>
    public IceState CheckConsent()
    {
        IceState previous, now;
        lock (_gate)
        {
            previous = State;
            CheckConsentLocked();
            now = State;
        }
        if (now != previous) Raise(now);
        return now;
    }

    private void CheckConsentLocked()
    {
        if (State is IceState.New or IceState.Connected or IceState.Nominated
            && _time.GetElapsedTime(Volatile.Read(ref _lastConsentTimestamp)) >= _options.ConsentTimeout)
        {
            CloseLocked();
        }
    }

    public void Close()
    {
        bool changed;
        lock (_gate)
        {
            changed = State != IceState.Closed;
            CloseLocked();
        }
        if (changed) Raise(IceState.Closed);
    }

    private void CloseLocked()
    {
        if (State == IceState.Closed) return;
        State = IceState.Closed;
        _timer?.Dispose();
        _timer = null;
        if (_transport is not null)
        {
            foreach (var id in _checks.Keys) _transport.Forget(id);
            if (_consentTransaction is { } c) _transport.Forget(c);
        }
        _checks.Clear();
        _consentTransaction = null;
        if (!_outcomeCounted && !_options.Lite && _options.Outcomes is { } outcomes)
        {
            _outcomeCounted = true;
            outcomes.CountFailed();
        }
    }

    private void Raise(IceState state) => StateChanged?.Invoke(state);
}
