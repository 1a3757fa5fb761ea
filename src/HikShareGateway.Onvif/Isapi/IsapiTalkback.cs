using System.Buffers;
using System.Globalization;
using System.Threading.Channels;
using System.Xml.Linq;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Parsers;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Isapi;

/// <summary>
/// Two-way audio over Hikvision ISAPI, for devices with an ISAPI address and no ONVIF backchannel.
/// <para>
/// :: Step 1: <c>GET /ISAPI/System/TwoWayAudio/channels</c>: the talk channel (the one whose <c>id</c> is the camera
///    channel, else the first: cameras have one, NVRs number them by audio output) and its
///    <c>audioCompressionType</c>; only G.711 µ-law/A-law can be relayed without transcoding (else NotSupported → 551).
/// :: Step 2: <c>PUT …/{id}/open</c>; a device still holding a session from a talker that vanished refuses, so on
///    failure <c>PUT …/{id}/close</c> and open once more.
/// :: Step 3: the streamed <c>PUT …/{id}/audioData</c> (<see cref="IsapiClient.OpenUploadAsync"/>) carries the raw
///    G.711 bytes as the viewer sends them.
/// :: Step 4: on the end of the talk, the upload connection closes and <c>PUT …/{id}/close</c> frees the speaker.
/// </para>
/// </summary>
public sealed partial class IsapiTalkback(IsapiClientPool clients, ILogger<IsapiTalkback> logger) : IDeviceTalkback
{
    public bool CanTry(DeviceInfo device) => device.IsapiBase is not null;

    public async Task<ITalkbackSession> OpenAsync(DeviceInfo device, int channel, CancellationToken ct)
    {
        var client = clients.For(device);
        // :: Step 1
        var list = await client.SendAsync(HttpMethod.Get, "/ISAPI/System/TwoWayAudio/channels", null, "two-way audio channels", ct).ConfigureAwait(false);
        var (id, codec) = ChooseChannel(list, channel);
        var path = "/ISAPI/System/TwoWayAudio/channels/" + id;
        // :: Step 2
        try
        {
            await client.SendAsync(HttpMethod.Put, path + "/open", null, "two-way audio open", ct).ConfigureAwait(false);
        }
        catch (DeviceException e) when (e.Kind == DeviceErrorKind.Failed)
        {
            LogReopen(logger, device.DeviceId, id, e.Message);
            await client.SendAsync(HttpMethod.Put, path + "/close", null, "two-way audio close", ct).ConfigureAwait(false);
            await client.SendAsync(HttpMethod.Put, path + "/open", null, "two-way audio open", ct).ConfigureAwait(false);
        }
        // :: Step 3
        Stream upload;
        try
        {
            upload = await client.OpenUploadAsync(path + "/audioData", "application/octet-stream", "two-way audio data", ct).ConfigureAwait(false);
        }
        catch
        {
            await CloseQuietlyAsync(client, path, device.DeviceId, logger).ConfigureAwait(false);
            throw;
        }
        LogOpened(logger, device.DeviceId, id, codec);
        return new Session(client, path, upload, codec, device.DeviceId, logger);
    }

    /// <summary>The talk channel for a camera channel and its codec. Throws NotSupported when there is none usable.</summary>
    internal static (string Id, TalkCodec Codec) ChooseChannel(XElement? list, int channel)
    {
        var channels = list.Children("TwoWayAudioChannel").Select(c => (Id: c.Text("id"), Type: c.Text("audioCompressionType"))).Where(c => c.Id is not null).ToList();
        if (channels.Count == 0)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, "the device lists no two-way audio channel.");
        }
        var wanted = channel.ToString(CultureInfo.InvariantCulture);
        var chosen = channels.Find(c => c.Id == wanted);
        if (chosen.Id is null)
        {
            chosen = channels[0];
        }
        var codec = chosen.Type switch
        {
            "G.711ulaw" or "G.711Mu" or "G711ulaw" => TalkCodec.Pcmu,
            "G.711alaw" or "G.711A" or "G711alaw" => TalkCodec.Pcma,
            _ => throw new DeviceException(DeviceErrorKind.NotSupported, $"the device's two-way audio uses {chosen.Type ?? "an unknown codec"}; only G.711 can be relayed."),
        };
        return (chosen.Id!, codec);
    }

    private static async Task CloseQuietlyAsync(IsapiClient client, string path, string deviceId, ILogger logger)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await client.SendAsync(HttpMethod.Put, path + "/close", null, "two-way audio close", cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DeviceException or OperationCanceledException)
        {
            LogCloseFailed(logger, deviceId, e.Message);
        }
    }

    /// <summary>One open speaker: a bounded queue of G.711 chunks pumped into the upload connection.</summary>
    private sealed class Session : ITalkbackSession
    {
        private const int QueueChunks = 64; // 1.3 s of 20 ms packets
        private readonly IsapiClient _client;
        private readonly string _path;
        private readonly Stream _upload;
        private readonly string _deviceId;
        private readonly ILogger _logger;
        private readonly Channel<(byte[] Data, int Length)> _queue;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _pump;
        private readonly Task _watch;
        private int _disposed;

        public Session(IsapiClient client, string path, Stream upload, TalkCodec codec, string deviceId, ILogger logger)
        {
            _client = client;
            _path = path;
            _upload = upload;
            _deviceId = deviceId;
            _logger = logger;
            Codec = codec;
            _queue = Channel.CreateBounded<(byte[], int)>(
                new BoundedChannelOptions(QueueChunks) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = true },
                dropped => ArrayPool<byte>.Shared.Return(dropped.Item1));
            _pump = Task.Run(PumpAsync);
            _watch = Task.Run(WatchAsync);
            Completion = Task.WhenAny(_pump, _watch).Unwrap();
        }

        public TalkCodec Codec { get; }
        public Task Completion { get; }

        public void Write(ReadOnlySpan<byte> samples)
        {
            if (Volatile.Read(ref _disposed) != 0 || samples.IsEmpty)
            {
                return;
            }
            var chunk = ArrayPool<byte>.Shared.Rent(samples.Length);
            samples.CopyTo(chunk);
            if (!_queue.Writer.TryWrite((chunk, samples.Length)))
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }
        }

        private async Task PumpAsync()
        {
            try
            {
                while (await _queue.Reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
                {
                    while (_queue.Reader.TryRead(out var item))
                    {
                        try
                        {
                            await _upload.WriteAsync(item.Data.AsMemory(0, item.Length), _stop.Token).ConfigureAwait(false);
                        }
                        finally
                        {
                            ArrayPool<byte>.Shared.Return(item.Data);
                        }
                    }
                    await _upload.FlushAsync(_stop.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                throw new DeviceException(DeviceErrorKind.Failed, "the device closed the two-way audio connection", e);
            }
        }

        /// <summary>The device sends nothing on the upload; a read that returns means it closed (or answered and closed).</summary>
        private async Task WatchAsync()
        {
            var one = new byte[256];
            try
            {
                while (await _upload.ReadAsync(one, _stop.Token).ConfigureAwait(false) > 0)
                {
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
            }
            if (!_stop.IsCancellationRequested)
            {
                throw new DeviceException(DeviceErrorKind.Failed, "the device closed the two-way audio connection");
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            _queue.Writer.TryComplete();
            // Let the pump write what is queued (a talker's last words), briefly, then stop.
            await Task.WhenAny(_pump, Task.Delay(TimeSpan.FromMilliseconds(500))).ConfigureAwait(false);
            await _stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(_pump, _watch).ConfigureAwait(false);
            }
            catch (Exception e) when (e is DeviceException or OperationCanceledException or IOException or ObjectDisposedException)
            {
            }
            while (_queue.Reader.TryRead(out var item))
            {
                ArrayPool<byte>.Shared.Return(item.Data);
            }
            await _upload.DisposeAsync().ConfigureAwait(false);
            // :: Step 4
            await CloseQuietlyAsync(_client, _path, _deviceId, _logger).ConfigureAwait(false);
            _stop.Dispose();
        }
    }

    [LoggerMessage(EventId = 4801, Level = LogLevel.Information, Message = "ISAPI two-way audio open on {DeviceId} talk channel {TalkChannel} ({Codec})")]
    private static partial void LogOpened(ILogger logger, string deviceId, string talkChannel, TalkCodec codec);

    [LoggerMessage(EventId = 4802, Level = LogLevel.Information, Message = "ISAPI two-way audio on {DeviceId} talk channel {TalkChannel} refused to open ({Reason}); closing a stale session and retrying")]
    private static partial void LogReopen(ILogger logger, string deviceId, string talkChannel, string reason);

    [LoggerMessage(EventId = 4803, Level = LogLevel.Warning, Message = "ISAPI two-way audio close on {DeviceId} failed: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string deviceId, string reason);
}
