using HikShareGateway.Core.Devices;
using HikShareGateway.Core.Playback;
using HikShareGateway.Onvif.Client;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.Onvif.Recordings;

/// <summary>
/// Recordings over ONVIF Profile G: FindRecordings → GetRecordingSearchResults (until the search is Completed) →
/// EndSearch on the Search service, and GetReplayUri on the Replay service.
/// <para>
/// The spans are each recording's <c>EarliestRecording</c>–<c>LatestRecording</c>: the recording search does not
/// report gaps inside a recording (that would need FindEvents over the recording's events).
/// </para>
/// <para>
/// Which recording is a channel's: the one whose <c>Source/SourceId</c> is the channel's video source or main profile
/// token; failing that, by position when the device has one recording per channel; or the only recording.
/// </para>
/// </summary>
public sealed class OnvifRecordingService(IDeviceCatalog catalog, OnvifClientPool clients) : IRecordingService
{
    private const int MaxMatches = 100;
    private const int MaxResultPages = 10;
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan WaitTime = TimeSpan.FromSeconds(1);

    public async Task<IReadOnlyList<RecordingSpan>> FindAsync(string deviceId, int channel, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var (device, ch, client, search) = Resolve(deviceId, channel, needReplay: false);
        var recordings = ForChannel(device, ch, await SearchAsync(client, search, cancellationToken).ConfigureAwait(false));
        var spans = new List<RecordingSpan>();
        foreach (var r in recordings)
        {
            if (r.Earliest is not { } earliest || r.Latest is not { } latest || latest < from || earliest > to)
            {
                continue;
            }
            spans.Add(new RecordingSpan(earliest < from ? from : earliest, latest > to ? to : latest, r.Token));
        }
        spans.Sort((a, b) => a.Start.CompareTo(b.Start));
        return spans;
    }

    public async Task<Uri> GetReplayUriAsync(string deviceId, int channel, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var (device, ch, client, search) = Resolve(deviceId, channel, needReplay: true);
        var recordings = ForChannel(device, ch, await SearchAsync(client, search, cancellationToken).ConfigureAwait(false));
        if (recordings.Count == 0)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"the device has no recording of channel {channel}");
        }
        // The recording that holds the start, else the first (a recorder with one recording per channel).
        var recording = recordings.FirstOrDefault(r => r.Earliest <= at && at <= r.Latest) ?? recordings[0];
        var body = await client.CallAsync(device.Onvif!.Replay!, OnvifRequests.GetReplayUri(recording.Token), "GetReplayUri", cancellationToken).ConfigureAwait(false);
        var uri = RecordingParsers.ParseReplayUri(body);
        // The device writes its own address; the gateway reaches it at another one (ONVIF Core §5.1.3).
        var reached = new AddressRewriter(device.Onvif.Device, null).Stream(uri)!;
        return new UriBuilder(reached) { UserName = "", Password = "" }.Uri;
    }

    private (DeviceInfo Device, ChannelInfo Channel, OnvifSoapClient Client, Uri Search) Resolve(string deviceId, int channel, bool needReplay)
    {
        if (!catalog.TryGetDevice(deviceId, out var device) || device.FindChannel(channel) is not { } ch)
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, $"device {deviceId} channel {channel} is not known.");
        }
        if (device.Onvif?.Search is not { } search || (needReplay && device.Onvif.Replay is null))
        {
            throw new DeviceException(DeviceErrorKind.NotSupported, needReplay
                ? "the device offers no ONVIF recording search and replay (Profile G)."
                : "the device offers no ONVIF recording search (Profile G).");
        }
        if (!device.Online)
        {
            throw new DeviceException(DeviceErrorKind.Failed, $"device {deviceId} is offline.");
        }
        return (device, ch, clients.For(device), search);
    }

    /// <summary>Every recording of the device: one search, its result pages until Completed, then EndSearch (best effort).</summary>
    internal static async Task<IReadOnlyList<OnvifRecording>> SearchAsync(OnvifSoapClient client, Uri search, CancellationToken ct)
    {
        var token = RecordingParsers.ParseFindRecordings(
            await client.CallAsync(search, OnvifRequests.FindRecordings(MaxMatches, KeepAlive), "FindRecordings", ct).ConfigureAwait(false));
        var all = new List<OnvifRecording>();
        var completed = false;
        for (var page = 0; page < MaxResultPages && !completed; page++)
        {
            var (recordings, done) = RecordingParsers.ParseRecordingSearchResults(
                await client.CallAsync(search, OnvifRequests.GetRecordingSearchResults(token, MaxMatches, WaitTime), "GetRecordingSearchResults", ct).ConfigureAwait(false));
            foreach (var r in recordings)
            {
                if (!all.Exists(x => x.Token == r.Token))
                {
                    all.Add(r);
                }
            }
            completed = done;
        }
        if (!completed)
        {
            try
            {
                // The device frees the search by itself after KeepAliveTime; ending it early is a courtesy.
                await client.CallAsync(search, OnvifRequests.EndSearch(token), "EndSearch", ct).ConfigureAwait(false);
            }
            catch (DeviceException)
            {
            }
        }
        return all;
    }

    /// <summary>The recordings of one channel (see the class remarks); Failed when the device's recordings cannot be told apart.</summary>
    internal static IReadOnlyList<OnvifRecording> ForChannel(DeviceInfo device, ChannelInfo channel, IReadOnlyList<OnvifRecording> recordings)
    {
        if (recordings.Count == 0)
        {
            return [];
        }
        var tokens = new[] { channel.VideoSourceToken, channel.MainProfileToken, channel.SubProfileToken }.Where(t => t is not null).ToHashSet(StringComparer.Ordinal);
        var matching = recordings.Where(r => r.SourceId is not null && tokens.Contains(r.SourceId)).ToList();
        if (matching.Count > 0)
        {
            return matching;
        }
        if (recordings.Count == 1)
        {
            return recordings;
        }
        var ordered = device.Channels.OrderBy(c => c.Channel).ToList();
        if (recordings.Count == ordered.Count)
        {
            return [recordings[ordered.FindIndex(c => c.Channel == channel.Channel)]];
        }
        throw new DeviceException(DeviceErrorKind.Failed, $"cannot tell which of the device's {recordings.Count} recordings belongs to channel {channel.Channel}.");
    }
}
