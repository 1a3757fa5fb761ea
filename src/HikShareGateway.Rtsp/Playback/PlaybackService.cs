using System.Text.RegularExpressions;
using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Playback;
using HikShareGateway.Rtsp.Protocol;
using HikShareGateway.Rtsp.Server;
using HikShareGateway.Rtsp.Upstream;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Rtsp.Playback;

/// <summary>Where a playback comes from: the upstream URI (never shown to viewers) and how positions are addressed there.</summary>
/// <param name="Kind"><c>template</c>, <c>onvif</c> or <c>hikvision</c>, for logs.</param>
public sealed record PlaybackSource(Uri Uri, PlaybackTimeline Timeline, string Kind);

/// <summary>
/// Opens playback sessions for <c>/playback/{deviceId}/{channel}?start=…&amp;end=…</c> (contract §5). The source of a
/// channel, first that applies:
/// <list type="number">
/// <item>the channel's configured <c>Playback</c> URL template, <c>{start}</c>/<c>{end}</c> replaced (positions in npt from start);</item>
/// <item>ONVIF Profile G: the device's Replay URI for the recording (FindRecordings, GetRecordingSearchResults,
/// GetReplayUri), played with <c>Require: onvif-replay</c> and <c>Range: clock=</c>;</item>
/// <item>a Hikvision tracks URL derived from the main stream's <c>/Streaming/Channels/{ch}01</c>:
/// <c>/Streaming/tracks/{ch}01?starttime=…&amp;endtime=…</c>.</item>
/// </list>
/// Without <c>end</c>, <c>{end}</c> / <c>endtime</c> is the current time (nothing is recorded after it).
/// </summary>
public sealed partial class PlaybackService(IRecordingService recordings, UpstreamOptions options, TimeSpan timeout, TimeProvider time, ILoggerFactory loggers)
{
    private static readonly Regex HikvisionLive = new(@"^/Streaming/Channels/(?<ch>\d*?)0?[12]$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));

    public async Task<IViewerMedia> OpenAsync(DeviceInfo device, ChannelInfo channel, ViewerRequestPath path, ViewerContext viewer, CancellationToken ct)
    {
        var (start, end) = ParseSpan(path.Query);
        if (!device.Online)
        {
            throw new RtspRefusal(503, "the device is offline");
        }
        var source = await ResolveSourceAsync(device, channel, start, end, ct);
        return await PlaybackViewerMedia.OpenAsync(source, device.Credentials, options, device.DeviceId, channel.Channel, viewer.SdpSessionId, timeout, time, loggers, ct);
    }

    /// <summary><c>start</c> (required) and <c>end</c> (optional, after start) from the query; 400 otherwise.</summary>
    internal static (DateTimeOffset Start, DateTimeOffset? End) ParseSpan(IReadOnlyDictionary<string, string> query)
    {
        if (!query.TryGetValue("start", out var s) || !PlaybackTime.TryParse(s, out var start))
        {
            throw new RtspRefusal(400, "playback needs ?start=YYYYMMDDTHHMMSSZ (UTC, basic ISO 8601), e.g. start=20261125T100000Z");
        }
        DateTimeOffset? end = null;
        if (query.TryGetValue("end", out var e) && !string.IsNullOrEmpty(e))
        {
            if (!PlaybackTime.TryParse(e, out var parsed))
            {
                throw new RtspRefusal(400, "end must be YYYYMMDDTHHMMSSZ (UTC, basic ISO 8601)");
            }
            if (parsed <= start)
            {
                throw new RtspRefusal(400, "end must be after start");
            }
            end = parsed;
        }
        return (start, end);
    }

    internal async Task<PlaybackSource> ResolveSourceAsync(DeviceInfo device, ChannelInfo channel, DateTimeOffset start, DateTimeOffset? end, CancellationToken ct)
    {
        var templateEnd = end ?? Max(time.GetUtcNow(), start.AddSeconds(1));
        if (channel.PlaybackTemplate is { } template)
        {
            var text = template.Replace("{start}", PlaybackTime.Format(start), StringComparison.Ordinal)
                               .Replace("{end}", PlaybackTime.Format(templateEnd), StringComparison.Ordinal);
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
            {
                throw new RtspRefusal(500, "the channel's playback URL template is not a valid URL");
            }
            return new PlaybackSource(uri, new PlaybackTimeline(start, end, SourceUsesClock: false), "template");
        }
        if (device.Onvif is { Replay: not null })
        {
            try
            {
                var uri = await recordings.GetReplayUriAsync(device.DeviceId, channel.Channel, start, ct);
                return new PlaybackSource(uri, new PlaybackTimeline(start, end, SourceUsesClock: true), "onvif");
            }
            catch (DeviceException e) when (e.Kind == DeviceErrorKind.NotSupported && HikvisionTracks(channel, start, templateEnd) is not null)
            {
                LogOnvifReplayUnavailable(loggers.CreateLogger<PlaybackService>(), device.DeviceId, channel.Channel, e.Message);
            }
            catch (DeviceException e)
            {
                throw LiveViewerMedia.Map(e);
            }
        }
        if (HikvisionTracks(channel, start, templateEnd) is { } tracks)
        {
            return new PlaybackSource(tracks, new PlaybackTimeline(start, end, SourceUsesClock: false), "hikvision");
        }
        throw new RtspRefusal(404, $"channel {channel.Channel} has no recordings this gateway can play back");
    }

    /// <summary>Hikvision's playback URL for a channel whose main stream is <c>/Streaming/Channels/{ch}01</c>.</summary>
    internal static Uri? HikvisionTracks(ChannelInfo channel, DateTimeOffset start, DateTimeOffset end)
    {
        if (channel.MainUri is not { } main || HikvisionLive.Match(main.AbsolutePath) is not { Success: true } m)
        {
            return null;
        }
        var ch = m.Groups["ch"].Value;
        var b = new UriBuilder(main)
        {
            Path = $"/Streaming/tracks/{(ch.Length == 0 ? channel.Channel.ToString(System.Globalization.CultureInfo.InvariantCulture) : ch)}01",
            Query = $"starttime={PlaybackTime.Format(start)}&endtime={PlaybackTime.Format(end)}",
            UserName = "",
            Password = "",
        };
        return b.Uri;
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    [LoggerMessage(EventId = 2403, Level = LogLevel.Information, Message = "ONVIF replay unavailable on {DeviceId}/{Channel} ({Reason}); using the Hikvision tracks URL")]
    private static partial void LogOnvifReplayUnavailable(ILogger logger, string deviceId, int channel, string reason);
}
