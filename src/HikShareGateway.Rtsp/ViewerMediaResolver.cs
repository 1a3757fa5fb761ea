using HikShareGateway.Core.Access;
using HikShareGateway.Core.Devices;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Playback;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Talk;

namespace HikShareGateway.Rtsp;

/// <summary>
/// Maps an authorized viewer request to its media: <c>/live/…</c> to the shared relay, <c>/playback/…</c>
/// and the ONVIF backchannel to their own sessions. Also says which privilege a request needs, before
/// anything touches a device. It joins the server to the media kinds (live, playback, talk), so it sits above all
/// of them: the server knows only <see cref="IViewerMediaResolver"/>.
/// </summary>
/// <param name="playback">Opens <c>/playback/…</c> sessions; null: playback answers 501.</param>
/// <param name="talk">Two-way audio; without it every backchannel DESCRIBE answers 551.</param>
public sealed class ViewerMediaResolver(IDeviceCatalog catalog, LiveRelay relay, TimeSpan upstreamTimeout, PlaybackService? playback = null, TalkService? talk = null)
    : IViewerMediaResolver
{
    public const string BackchannelRequire = RequireOptions.Backchannel;
    public const string ReplayRequire = RequireOptions.Replay;

    public IDeviceCatalog Catalog => catalog;

    /// <summary>The privilege the request needs; an unknown <c>Require</c> option is refused with 551 (RFC 2326 §12.32).</summary>
    public Privilege RequiredPrivilege(ViewerRequestPath path, RtspMessage request)
    {
        var unsupported = UnsupportedRequire(path, request);
        if (unsupported.Count > 0)
        {
            throw new RtspRefusal(551, "option not supported", ("Unsupported", string.Join(", ", unsupported)));
        }
        if (path.Kind == ViewerPathKind.Playback)
        {
            return Privilege.Playback;
        }
        return IsBackchannel(request) ? Privilege.TwoWayAudio : Privilege.LiveView;
    }

    public static bool IsBackchannel(RtspMessage request) => Requires(request).Contains(BackchannelRequire, StringComparer.OrdinalIgnoreCase);

    private static List<string> UnsupportedRequire(ViewerRequestPath path, RtspMessage request)
    {
        var result = new List<string>();
        foreach (var option in Requires(request))
        {
            var ok = option.Equals(BackchannelRequire, StringComparison.OrdinalIgnoreCase) && path.Kind == ViewerPathKind.Live
                     || option.Equals(ReplayRequire, StringComparison.OrdinalIgnoreCase) && path.Kind == ViewerPathKind.Playback;
            if (!ok)
            {
                result.Add(option);
            }
        }
        return result;
    }

    private static IEnumerable<string> Requires(RtspMessage request)
        => request.Headers.GetAll("Require").SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Opens the media of an authorized request; throws <see cref="RtspRefusal"/> (404 for what does not exist, 5xx for device failures).</summary>
    public async Task<IViewerMedia> OpenAsync(ViewerRequestPath path, RtspMessage request, ViewerContext viewer, CancellationToken ct)
    {
        if (!catalog.TryGetDevice(path.DeviceId, out var device) || device.FindChannel(path.Channel) is not { } channel)
        {
            throw new RtspRefusal(404, "no such device or channel on this gateway");
        }
        if (path.Kind == ViewerPathKind.Playback)
        {
            return playback is null
                ? throw new RtspRefusal(501, "playback is not available on this gateway")
                : await playback.OpenAsync(device, channel, path, viewer, ct);
        }
        var kind = path.Sub ? StreamKind.Sub : StreamKind.Main;
        if (IsBackchannel(request))
        {
            if (talk is null)
            {
                throw new RtspRefusal(551, "the device has no audio backchannel", ("Unsupported", BackchannelRequire));
            }
            if (!device.Online)
            {
                throw new RtspRefusal(503, "the device is offline");
            }
            return await talk.OpenAsync(device, channel, kind, viewer, ct);
        }
        if (channel.StreamUri(kind) is null)
        {
            throw new RtspRefusal(404, $"channel {path.Channel} has no {(path.Sub ? "sub" : "main")} stream");
        }
        if (!device.Online)
        {
            throw new RtspRefusal(503, "the device is offline");
        }
        return await LiveViewerMedia.OpenAsync(relay, path.DeviceId, path.Channel, kind, viewer.SdpSessionId, upstreamTimeout, ct);
    }
}
