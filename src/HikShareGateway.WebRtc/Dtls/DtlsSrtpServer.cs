using System.Net;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Sdp;
using HikShareGateway.WebRtc.Srtp;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace HikShareGateway.WebRtc.Dtls;

/// <summary>Options of the DTLS side of a session.</summary>
public sealed record DtlsOptions
{
    /// <summary>The whole handshake must finish within this (browsers finish in well under a second on a LAN).</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Offered in this order of preference; AES-CM stays for browsers that offer only it.</summary>
    public IReadOnlyList<SrtpProfile> Profiles { get; init; } = [SrtpProfile.AeadAes128Gcm, SrtpProfile.AesCm128HmacSha1_80];
}

/// <summary>How a handshake ended: keys on success, else the reason (and the TLS alert when there was one).</summary>
public sealed record DtlsHandshakeResult(DtlsFailure Failure, SrtpKeyMaterial? Keys, short? Alert)
{
    public bool Succeeded => Failure == DtlsFailure.None && Keys is not null;
}

/// <summary>
/// The DTLS-SRTP server of one WebRTC session (RFC 5764; we are always DTLS server, the answer says
/// setup:passive). Datagrams from the mux arrive through <see cref="OnDatagram"/>; the handshake runs on its own
/// thread inside BouncyCastle's blocking <c>DtlsServerProtocol.Accept</c>, bounded by a timer of the injected
/// <see cref="TimeProvider"/> that closes the transport. After the handshake, further DTLS records (a
/// retransmitted Finished, an alert) are given to BouncyCastle inline.
/// </summary>
public sealed partial class DtlsSrtpServer : IDisposable
{
    private readonly DtlsCertificate _certificate;
    private readonly SdpFingerprint _remoteFingerprint;
    private readonly DtlsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly DropCounters _drops;
    private readonly DtlsDatagramTransport _transport;
    private readonly string _remote;
    private DtlsTransport? _established;
    private int _started;

    public DtlsSrtpServer(DtlsCertificate certificate, SdpFingerprint remoteFingerprint, Action<ReadOnlyMemory<byte>> send,
        DtlsOptions options, TimeProvider time, ILogger logger, DropCounters drops, IPEndPoint? remote = null)
    {
        _certificate = certificate;
        _remoteFingerprint = remoteFingerprint;
        _options = options;
        _time = time;
        _logger = logger;
        _drops = drops;
        _remote = remote?.ToString() ?? "-";
        _transport = new DtlsDatagramTransport(send);
    }

    /// <summary>Raised once when the established association ends (peer alert or close_notify).</summary>
    public event Action<DtlsFailure>? Closed;

    /// <summary>A datagram whose first byte is 20–63 (RFC 7983) from this session's remote address.</summary>
    public void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        if (!DtlsRecordCheck.IsPlausible(datagram))
        {
            _drops.Count(DropReason.DtlsGarbage);
            return;
        }
        if (!_transport.TryEnqueue(datagram))
        {
            _drops.Count(DropReason.DtlsGarbage);
            return;
        }
        if (_established is { } dtls) PumpEstablished(dtls);
    }

    /// <summary>Runs the handshake once; completes within the handshake timeout whatever the peer sends.</summary>
    public Task<DtlsHandshakeResult> HandshakeAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The handshake runs once per association.");
        var completion = new TaskCompletionSource<DtlsHandshakeResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var timedOut = 0;
        var timer = _time.CreateTimer(_ => { Volatile.Write(ref timedOut, 1); _transport.Close(); }, null, _options.HandshakeTimeout, Timeout.InfiniteTimeSpan);
        var registration = cancellationToken.Register(() => _transport.Close());
        var thread = new Thread(() =>
        {
            DtlsHandshakeResult result;
            var server = new WebRtcTlsServer(new BcTlsCrypto(new SecureRandom()), _certificate, _remoteFingerprint, _options.Profiles);
            try
            {
                var dtls = new DtlsServerProtocol().Accept(server, _transport);
                if (server.Keys is null) throw new TlsFatalAlert(AlertDescription.internal_error);
                _established = dtls;
                result = new DtlsHandshakeResult(DtlsFailure.None, server.Keys, null);
                LogHandshakeCompleted(_logger, _remote, server.Keys.Profile);
            }
            catch (Exception)
            {
                // The thread is the boundary: whatever BouncyCastle throws on hostile input becomes a failed
                // handshake of this session, never an unhandled exception of the process.
                var failure = server.Failure != DtlsFailure.None ? server.Failure
                    : Volatile.Read(ref timedOut) == 1 ? DtlsFailure.Timeout
                    : _transport.IsClosed ? DtlsFailure.Closed
                    : DtlsFailure.Alert;
                result = new DtlsHandshakeResult(failure, null, server.AlertDescriptionSeen);
                _drops.Count(failure == DtlsFailure.FingerprintMismatch ? DropReason.DtlsFingerprintMismatch : DropReason.DtlsHandshakeFailed);
                LogHandshakeFailed(_logger, _remote, failure, server.AlertDescriptionSeen is { } a ? AlertDescription.GetText(a) : "-");
                _transport.Close();
            }
            finally
            {
                timer.Dispose();
                registration.Dispose();
            }
            completion.TrySetResult(result);
        })
        {
            IsBackground = true,
            Name = "dtls-handshake",
        };
        thread.Start();
        return completion.Task;
    }

    /// <summary>Lets BouncyCastle process records after the handshake without a thread of its own.</summary>
    private void PumpEstablished(DtlsTransport dtls)
    {
        Span<byte> scratch = stackalloc byte[1500];
        try
        {
            // Application data is not expected on a media-only association (no data channel); it is discarded.
            // BouncyCastle reads a wait of 0 as "forever"; 1 ms bounds the call once the queue is empty.
            while (dtls.Receive(scratch, 1) >= 0) { }
        }
        catch (Exception)
        {
            // An alert, close_notify or a record BouncyCastle cannot take: the association is over.
            _established = null;
            _transport.Close();
            LogAssociationClosed(_logger, _remote);
            Closed?.Invoke(DtlsFailure.Closed);
        }
    }

    public void Dispose()
    {
        var dtls = _established;
        _established = null;
        try { dtls?.Close(); }
        catch (Exception e) when (e is TlsException or IOException) { /* the peer may be gone already */ }
        _transport.Close();
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "DTLS-SRTP handshake with {Remote} completed: {Profile}")]
    private static partial void LogHandshakeCompleted(ILogger logger, string remote, SrtpProfile profile);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "DTLS-SRTP handshake with {Remote} failed: {Failure} (alert {Alert})")]
    private static partial void LogHandshakeFailed(ILogger logger, string remote, DtlsFailure failure, string alert);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information, Message = "DTLS association with {Remote} closed by the peer")]
    private static partial void LogAssociationClosed(ILogger logger, string remote);
}
