using HikShareGateway.Core.Access;
using HikShareGateway.Core.Audio;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Transport;
using HikShareGateway.Rtsp.Upstream;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Talk;

/// <summary>Opens the device side of a talk session; the seam for tests.</summary>
public interface ITalkTargetConnector
{
    /// <summary>The camera's ONVIF backchannel on <paramref name="uri"/>; NotSupported when it has none.</summary>
    Task<ITalkTarget> OpenOnvifAsync(DeviceInfo device, Uri uri, CancellationToken ct);
}

/// <summary>The real connector: an upstream RTSP session with the backchannel <c>Require</c> header.</summary>
public sealed class RtspTalkTargetConnector(UpstreamOptions options, TimeProvider time, ILoggerFactory loggers) : ITalkTargetConnector
{
    public async Task<ITalkTarget> OpenOnvifAsync(DeviceInfo device, Uri uri, CancellationToken ct)
        => await OnvifBackchannelTarget.OpenAsync(uri, device.Credentials, options, time, loggers.CreateLogger<RtspUpstreamClient>(), ct);
}

/// <summary>
/// Two-way audio (contract §5): resolves an authorized backchannel DESCRIBE to a <see cref="TalkViewerMedia"/>.
/// <para>
/// :: Step 1: one talker per (device, channel): the floor is taken first, a second talker gets 453.
/// :: Step 2: the camera's ONVIF backchannel is tried on the channel's stream URL (DESCRIBE with the Require header);
///    a 551 or an SDP without a sendonly audio track means it has none.
/// :: Step 3: without one, the device's own API (<see cref="IDeviceTalkback"/>, Hikvision ISAPI) when it may have it.
/// :: Step 4: neither: 551 with <c>Unsupported: www.onvif.org/ver20/backchannel</c>. Device failures map as for live.
/// :: Step 5: with <c>liveView</c> too, a lease on the shared live stream supplies the normal tracks of the session.
/// </para>
/// </summary>
public sealed partial class TalkService(
    IAccessPolicy policy,
    ITalkTargetConnector connector,
    IDeviceTalkback? talkback,
    LiveRelay relay,
    TimeSpan timeout,
    TimeProvider time,
    ILogger<TalkService> logger)
{
    public TalkFloor Floor { get; } = new();

    /// <summary>How long the device may take to open its speaker (the upstream timeout).</summary>
    internal TimeSpan Timeout => timeout;
    internal TimeProvider Time => time;

    public async Task<IViewerMedia> OpenAsync(DeviceInfo device, ChannelInfo channel, StreamKind kind, ViewerContext viewer, CancellationToken ct)
    {
        // :: Step 1
        var floor = Floor.TryTake(device.DeviceId, channel.Channel);
        if (floor is null)
        {
            LogBusy(logger, device.DeviceId, channel.Channel, viewer.Remote);
            throw new RtspRefusal(453, "someone else is talking on this channel");
        }
        ITalkTarget? target = null;
        LiveStreamLease? lease = null;
        try
        {
            using var deadline = new Deadline(timeout, time, ct);
            try
            {
                target = await OpenTargetAsync(device, channel, kind, deadline.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new RtspRefusal(504, "the device did not open two-way audio in time");
            }
            if (target is null)
            {
                throw new RtspRefusal(551, "the device has no audio backchannel", ("Unsupported", RequireOptions.Backchannel));
            }

            // :: Step 5
            MediaDescription? live = null;
            if (policy.IsAllowed(viewer.Account, device.DeviceId, channel.Channel, Privilege.LiveView) && channel.StreamUri(kind) is not null)
            {
                lease = relay.Acquire(device.DeviceId, channel.Channel, kind);
                live = await lease.Stream.WaitReadyAsync(timeout, ct);
            }
            var name = $"{device.DeviceId} channel {channel.Channel} talk";
            var sdp = TalkViewerMedia.BuildSdp(name, viewer.SdpSessionId, live?.Tracks ?? [], target.Track);
            LogOpened(logger, device.DeviceId, channel.Channel, target.Kind, live is not null, viewer.Remote);
            return new TalkViewerMedia(lease, live, target, floor, policy, viewer, device.DeviceId, channel.Channel, sdp);
        }
        catch (Exception e)
        {
            lease?.Dispose();
            if (target is not null)
            {
                await target.DisposeAsync();
            }
            floor.Dispose();
            throw e switch
            {
                TimeoutException => new RtspRefusal(504, "the device did not start the stream in time"),
                DeviceException d => LiveViewerMedia.Map(d),
                _ => e,
            };
        }
    }

    /// <summary>:: Steps 2-3. Null when the device has no two-way audio at all.</summary>
    internal async Task<ITalkTarget?> OpenTargetAsync(DeviceInfo device, ChannelInfo channel, StreamKind kind, CancellationToken ct)
    {
        var uri = channel.StreamUri(kind) ?? channel.MainUri ?? channel.SubUri;
        if (uri is not null)
        {
            try
            {
                return await connector.OpenOnvifAsync(device, uri, ct);
            }
            catch (DeviceException e) when (e.Kind == DeviceErrorKind.NotSupported)
            {
                LogNoOnvifBackchannel(logger, device.DeviceId, channel.Channel, e.Message);
            }
        }
        if (talkback is not null && talkback.CanTry(device))
        {
            try
            {
                return new DeviceTalkbackTarget(await talkback.OpenAsync(device, channel.Channel, ct));
            }
            catch (DeviceException e) when (e.Kind == DeviceErrorKind.NotSupported)
            {
                LogNoDeviceTalkback(logger, device.DeviceId, channel.Channel, e.Message);
            }
        }
        return null;
    }

    [LoggerMessage(EventId = 2600, Level = LogLevel.Information, Message = "Two-way audio on {DeviceId} channel {Channel} via {Kind} (live tracks: {Live}) for {Remote}")]
    private static partial void LogOpened(ILogger logger, string deviceId, int channel, string kind, bool live, string remote);

    [LoggerMessage(EventId = 2601, Level = LogLevel.Information, Message = "Two-way audio on {DeviceId} channel {Channel} refused to {Remote}: another talker holds it")]
    private static partial void LogBusy(ILogger logger, string deviceId, int channel, string remote);

    [LoggerMessage(EventId = 2602, Level = LogLevel.Debug, Message = "{DeviceId} channel {Channel} has no ONVIF backchannel: {Reason}")]
    private static partial void LogNoOnvifBackchannel(ILogger logger, string deviceId, int channel, string reason);

    [LoggerMessage(EventId = 2603, Level = LogLevel.Debug, Message = "{DeviceId} channel {Channel} has no two-way audio in its own API: {Reason}")]
    private static partial void LogNoDeviceTalkback(ILogger logger, string deviceId, int channel, string reason);
}
