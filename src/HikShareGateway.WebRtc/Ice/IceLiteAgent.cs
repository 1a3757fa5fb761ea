using System.Net;
using System.Text;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Stun;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>Where a session's ICE stands.</summary>
public enum IceState
{
    /// <summary>No valid check yet.</summary>
    New,
    /// <summary>A check succeeded: the browser can reach us at that address.</summary>
    Connected,
    /// <summary>The controlling browser nominated a pair (USE-CANDIDATE): media goes there.</summary>
    Nominated,
    /// <summary>Consent expired (RFC 7675) or the session ended.</summary>
    Closed,
}

/// <summary>What became of one Binding request.</summary>
public enum IceCheckOutcome
{
    /// <summary>A success response was written; the remote address is a valid pair.</summary>
    Answered,
    /// <summary>A 420 error response was written (unknown comprehension-required attribute).</summary>
    AnsweredUnknownAttribute,
    /// <summary>Not for this session's ufrag, or not "ours:theirs".</summary>
    WrongUsername,
    /// <summary>MESSAGE-INTEGRITY missing or wrong, or no FINGERPRINT: dropped without an answer.</summary>
    BadIntegrity,
    /// <summary>Not a Binding request (indications are consent-free keepalives and are ignored).</summary>
    Ignored,
    Closed,
}

/// <summary>
/// The ICE-lite side of one session (RFC 8445 §2.5): we never send checks, we answer the browser's, which is
/// always controlling. A valid check (our ufrag, integrity under our password, FINGERPRINT) is answered with
/// XOR-MAPPED-ADDRESS; USE-CANDIDATE nominates its pair; every valid check on the nominated pair refreshes
/// consent, and 30 s without one closes the session (RFC 7675 §5.1). Pure: the transport passes datagrams and
/// sends the response bytes written into its buffer.
/// </summary>
public sealed class IceLiteAgent
{
    private readonly byte[] _localPwd;
    private readonly byte[] _expectedUsername;
    private readonly TimeProvider _time;
    private readonly DropCounters _drops;
    private readonly TimeSpan _consentTimeout;
    private long _lastConsentTimestamp;
    private readonly List<IPEndPoint> _validated = new(MaxValidated);
    private const int MaxValidated = 8;

    public IceLiteAgent(IceCredentials local, string remoteUfrag, TimeProvider time, DropCounters drops, TimeSpan? consentTimeout = null)
    {
        Local = local;
        RemoteUfrag = remoteUfrag;
        _localPwd = Encoding.UTF8.GetBytes(local.Pwd);
        // RFC 8445 §7.2.2: USERNAME of a request to us is "our ufrag:their ufrag".
        _expectedUsername = Encoding.UTF8.GetBytes(local.Ufrag + ":" + remoteUfrag);
        _time = time;
        _drops = drops;
        _consentTimeout = consentTimeout ?? TimeSpan.FromSeconds(30);
        // Until the first valid check, "consent" dates from the answer: a browser that never connects
        // does not leave the session registered forever.
        _lastConsentTimestamp = time.GetTimestamp();
    }

    public IceCredentials Local { get; }
    public string RemoteUfrag { get; }
    public IceState State { get; private set; }
    /// <summary>The nominated remote address (media goes there), or the first valid one before nomination.</summary>
    public IPEndPoint? SelectedRemote { get; private set; }

    /// <summary>Raised when the state changes (on the thread that handled the check or checked consent).</summary>
    public event Action<IceState>? StateChanged;

    /// <summary>The ufrag a request is addressed to: the part of USERNAME before the colon.</summary>
    public static ReadOnlySpan<byte> TargetUfrag(scoped in StunMessage message)
    {
        var u = message.Username;
        var colon = u.IndexOf((byte)':');
        return colon < 0 ? u : u[..colon];
    }

    /// <summary>Handles a parsed Binding request from <paramref name="remote"/>; writes the answer into <paramref name="response"/>.</summary>
    public IceCheckOutcome HandleRequest(scoped in StunMessage request, IPEndPoint remote, Span<byte> response, out int responseLength)
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
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(unknown, request.UnknownRequiredAttribute);
            e.AddAttribute(StunAttribute.UnknownAttributes, unknown);
            e.AddMessageIntegrity(_localPwd);
            e.AddFingerprint();
            responseLength = e.Length;
            return IceCheckOutcome.AnsweredUnknownAttribute;
        }

        var w = new StunWriter(response, StunMethod.Binding, StunClass.SuccessResponse, request.TransactionId);
        w.AddXorAddress(StunAttribute.XorMappedAddress, remote);
        w.AddMessageIntegrity(_localPwd);
        w.AddFingerprint();
        responseLength = w.Length;

        var previous = State;
        if (_validated.Count < MaxValidated && !_validated.Contains(remote)) _validated.Add(remote);
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
        if (State != previous) StateChanged?.Invoke(State);
        return IceCheckOutcome.Answered;
    }

    /// <summary>
    /// Before nomination, follow the browser: when its DTLS arrives from another validated address, our replies
    /// go there (RFC 8445 §7.3.1.5 lets the controlled agent use any valid pair until one is nominated).
    /// </summary>
    public void PreferRemoteBeforeNomination(IPEndPoint remote)
    {
        if (State != IceState.Connected || remote.Equals(SelectedRemote) || !_validated.Contains(remote)) return;
        SelectedRemote = remote;
        Volatile.Write(ref _lastConsentTimestamp, _time.GetTimestamp());
    }

    /// <summary>
    /// RFC 7675 §5.1: consent lapses 30 s after the last valid check on the selected pair (or after the answer,
    /// when no check ever came). Call periodically.
    /// </summary>
    public IceState CheckConsent()
    {
        if (State is IceState.New or IceState.Connected or IceState.Nominated
            && _time.GetElapsedTime(Volatile.Read(ref _lastConsentTimestamp)) >= _consentTimeout)
        {
            Close();
        }
        return State;
    }

    public void Close()
    {
        if (State == IceState.Closed) return;
        State = IceState.Closed;
        StateChanged?.Invoke(IceState.Closed);
    }
}
