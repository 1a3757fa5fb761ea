using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Stun;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc.Ice;

/// <summary>How a TURN client reaches its server: the mux's UDP socket, or a TCP/TLS connection of its own.</summary>
public enum TurnTransport
{
    Udp,
    Tcp,
    Tls,
}

/// <summary>What a TURN client sends its server through (one link per client).</summary>
internal interface ITurnServerLink
{
    TurnTransport Transport { get; }

    /// <summary>Sends one STUN message or ChannelData frame (already padded for a stream). Never blocks on the network.</summary>
    void Send(ReadOnlySpan<byte> frame);
}

/// <summary>TURN over UDP: datagrams from the mux socket to the server.</summary>
internal sealed class UdpTurnLink(UdpMux mux, SocketAddress server) : ITurnServerLink
{
    public TurnTransport Transport => TurnTransport.Udp;

    public void Send(ReadOnlySpan<byte> frame) => mux.SendRaw(frame, server);
}

/// <summary>
/// TURN over TCP or TLS (RFC 8656 §3.1): one connection to the server carries the allocation's control messages and
/// ChannelData, framed on the stream by <see cref="StunFraming"/>; the relayed side towards peers stays UDP.
/// Transport only: frames read are handed to the mux as if they were datagrams from the server.
/// </summary>
/// <remarks>
/// Sending never waits for the network: a frame is copied into the pending half of a double buffer and the writer
/// loop swaps the halves and writes the whole batch. When the server or the path cannot keep up and the pending half
/// is full, the frame is dropped and counted (<see cref="DropReason.TurnStreamBackpressure"/>) — the datagram
/// semantics ICE and SRTP expect, and the media sender is never stalled by one slow relay.
/// </remarks>
internal sealed partial class TurnStreamLink : ITurnServerLink, IAsyncDisposable
{
    /// <summary>Bytes that may wait for the writer (each half): ~0.5 s of a 4 Mbit/s stream.</summary>
    internal const int PendingCapacity = 256 * 1024;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly DropCounters _drops;
    private readonly ILogger _logger;
    private readonly string _server;
    private readonly Lock _gate = new();
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });
    private readonly CancellationTokenSource _stop = new();
    private byte[] _pending = new byte[PendingCapacity];
    private byte[] _writing = new byte[PendingCapacity];
    private int _pendingLength;
    private Task? _reader, _writer;
    private int _disposed;

    private TurnStreamLink(TurnTransport transport, Socket socket, Stream stream, string server, DropCounters drops, ILogger logger)
    {
        Transport = transport;
        _socket = socket;
        _stream = stream;
        _server = server;
        _drops = drops;
        _logger = logger;
    }

    public TurnTransport Transport { get; }

    /// <summary>Completes when the connection has ended (the server closed it, an error, or disposal).</summary>
    public Task Closed => _closed.Task;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Connects to <paramref name="server"/> over TCP, and for <see cref="TurnTransport.Tls"/> runs the TLS handshake,
    /// validating the server's certificate for <paramref name="host"/> (the URL's host: a name or an IP literal)
    /// against the system's roots, or only against <paramref name="trustedRoots"/> when given.
    /// </summary>
    /// <param name="socket">A fresh stream socket (the caller may create it elsewhere, e.g. in another network namespace).</param>
    public static async Task<TurnStreamLink> ConnectAsync(Socket socket, TurnTransport transport, IPEndPoint server, string host,
        X509Certificate2Collection? trustedRoots, DropCounters drops, ILogger logger, CancellationToken ct)
    {
        try
        {
            socket.NoDelay = true; // small STUN transactions and media frames: no Nagle delay
            await socket.ConnectAsync(server, ct).ConfigureAwait(false);
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            if (transport == TurnTransport.Tls)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                var options = new SslClientAuthenticationOptions
                {
                    TargetHost = host,
                    EnabledSslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
                };
                if (trustedRoots is { Count: > 0 })
                {
                    // Only the configured CA: the name (or IP SAN) is still checked by SslStream.
                    var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
                    policy.CustomTrustStore.AddRange(trustedRoots);
                    options.CertificateChainPolicy = policy;
                }
                try
                {
                    await tls.AuthenticateAsClientAsync(options, ct).ConfigureAwait(false);
                }
                catch
                {
                    await tls.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
                stream = tls;
            }
            return new TurnStreamLink(transport, socket, stream, server.ToString(), drops, logger);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Starts the read and write loops; every complete frame read goes to <paramref name="onFrame"/> (one reader thread).</summary>
    public void Start(FrameHandler onFrame)
    {
        _reader ??= Task.Run(() => ReadLoopAsync(onFrame));
        _writer ??= Task.Run(WriteLoopAsync);
    }

    /// <summary>One frame, writable (the mux unwraps ChannelData and Data indications in place).</summary>
    public delegate void FrameHandler(Span<byte> frame);

    public void Send(ReadOnlySpan<byte> frame)
    {
        lock (_gate)
        {
            if (_pendingLength + frame.Length > _pending.Length)
            {
                _drops.Count(DropReason.TurnStreamBackpressure);
                return;
            }
            frame.CopyTo(_pending.AsSpan(_pendingLength));
            _pendingLength += frame.Length;
        }
        _wake.Writer.TryWrite(true);
    }

    private async Task WriteLoopAsync()
    {
        var reader = _wake.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                reader.TryRead(out _);
                int length;
                lock (_gate)
                {
                    (_pending, _writing) = (_writing, _pending);
                    length = _pendingLength;
                    _pendingLength = 0;
                }
                if (length == 0) continue;
                await _stream.WriteAsync(_writing.AsMemory(0, length), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            LogConnectionLost(_logger, _server, e.Message);
        }
        finally
        {
            _closed.TrySetResult();
        }
    }

    private async Task ReadLoopAsync(FrameHandler onFrame)
    {
        var input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        var frameBuffer = GC.AllocateArray<byte>(StunFraming.MaxFrameLength, pinned: true);
        try
        {
            while (true)
            {
                var read = await input.ReadAsync(_stop.Token).ConfigureAwait(false);
                var buffer = read.Buffer;
                var reader = new SequenceReader<byte>(buffer);
                var invalid = false;
                while (true)
                {
                    var result = StunFraming.TryReadFrame(ref reader, out var frame, out _);
                    if (result == StunFraming.Result.NeedMore) break;
                    if (result == StunFraming.Result.Invalid)
                    {
                        invalid = true;
                        break;
                    }
                    var length = (int)frame.Length;
                    frame.CopyTo(frameBuffer);
                    try
                    {
                        onFrame(frameBuffer.AsSpan(0, length));
                    }
                    catch (Exception e)
                    {
                        // One bad frame or one failing session must not end the relay for every other session.
                        LogFrameFailed(_logger, e);
                    }
                }
                input.AdvanceTo(reader.Position, buffer.End);
                if (invalid)
                {
                    _drops.Count(DropReason.TurnMalformed);
                    LogNotTurn(_logger, _server);
                    break;
                }
                if (read.IsCompleted || read.IsCanceled)
                {
                    LogConnectionLost(_logger, _server, "closed by the server");
                    break;
                }
            }
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            LogConnectionLost(_logger, _server, e.Message);
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
            _closed.TrySetResult();
            _stop.Cancel(); // the writer has nothing left to write to
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        await _stream.DisposeAsync().ConfigureAwait(false);
        foreach (var loop in (Task?[])[_reader, _writer])
        {
            if (loop is null) continue;
            try { await loop.ConfigureAwait(false); }
            catch (Exception) { } // already logged by the loop
        }
        _closed.TrySetResult();
        _stop.Dispose();
    }

    [LoggerMessage(EventId = 7050, Level = LogLevel.Warning, Message = "TURN connection to {Server} ended ({Why}): its relayed candidate is gone")]
    private static partial void LogConnectionLost(ILogger logger, string server, string why);

    [LoggerMessage(EventId = 7051, Level = LogLevel.Warning, Message = "TURN server {Server} sent bytes that are neither STUN nor ChannelData: connection closed")]
    private static partial void LogNotTurn(ILogger logger, string server);

    [LoggerMessage(EventId = 7052, Level = LogLevel.Error, Message = "TURN frame dispatch failed")]
    private static partial void LogFrameFailed(ILogger logger, Exception exception);
}
