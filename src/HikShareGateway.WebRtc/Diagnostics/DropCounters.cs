namespace HikShareGateway.WebRtc.Diagnostics;

/// <summary>Why the stack refused or dropped something from the network. Stable numbering: the metrics
/// wiring (later) exports one labelled counter per value.</summary>
public enum DropReason
{
    StunMalformed,
    StunBadFingerprint,
    StunBadIntegrity,
    StunUnknownUsername,
    StunUnknownComprehensionRequired,
    SdpMalformed,
    SdpTooLarge,
    DtlsGarbage,
    DtlsHandshakeFailed,
    DtlsFingerprintMismatch,
    SrtpMalformed,
    SrtpBadTag,
    SrtpReplayed,
    SrtpTooOld,
    UnknownFirstByte,
    UnknownRemote,
    RtcpMalformed,
    /// <summary>ChannelData or a Data indication from the TURN server that does not parse or names no bound channel.</summary>
    TurnMalformed,
    /// <summary>A frame for a TURN server over TCP/TLS dropped because the connection's send buffer was full.</summary>
    TurnStreamBackpressure,
}

/// <summary>
/// The one place where dropped input is counted, per reason. Lock-free increments; one instance per
/// UDP mux (shared by its sessions) or per test.
/// </summary>
public sealed class DropCounters
{
    private readonly long[] _counts = new long[Enum.GetValues<DropReason>().Length];

    public void Count(DropReason reason) => Interlocked.Increment(ref _counts[(int)reason]);

    public long this[DropReason reason] => Interlocked.Read(ref _counts[(int)reason]);

    public long Total
    {
        get
        {
            long sum = 0;
            for (var i = 0; i < _counts.Length; i++) sum += Interlocked.Read(ref _counts[i]);
            return sum;
        }
    }
}
