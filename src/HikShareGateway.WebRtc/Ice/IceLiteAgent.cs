using HikShareGateway.WebRtc.Diagnostics;

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
    /// <summary>A 487 error response was written (RFC 8445 §7.3.1.1: the peer must switch its role).</summary>
    AnsweredRoleConflict,
    /// <summary>Not a Binding request (indications are consent-free keepalives and are ignored).</summary>
    Ignored,
    Closed,
}

/// <summary>
/// The ICE-lite side of one session (RFC 8445 §2.5): we never send checks, we answer the browser's, which is
/// always controlling. A valid check (our ufrag, integrity under our password, FINGERPRINT) is answered with
/// XOR-MAPPED-ADDRESS; USE-CANDIDATE nominates its pair; every valid check on the nominated pair refreshes
/// consent, and 30 s without one closes the session (RFC 7675 §5.1). Only works when the browser can reach
/// one of our host candidates (no NAT in front of the gateway): <see cref="IceAgent"/> is the full agent.
/// </summary>
public sealed class IceLiteAgent(IceCredentials local, string remoteUfrag, TimeProvider time, DropCounters drops, TimeSpan? consentTimeout = null)
    : IceAgent(local, remoteUfrag, "", new IceAgentOptions { Lite = true, ConsentTimeout = consentTimeout ?? TimeSpan.FromSeconds(30) }, time, drops, null);
