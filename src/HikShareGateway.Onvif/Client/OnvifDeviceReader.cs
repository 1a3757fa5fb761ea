using HikShareGateway.Core.Devices;
using HikShareGateway.Onvif.Parsers;
using HikShareGateway.Onvif.Soap;

namespace HikShareGateway.Onvif.Client;

/// <summary>What the gateway learnt from one device: the public description plus the tokens events map through.</summary>
public sealed record OnvifDeviceSnapshot(
    DeviceInfo Device,
    OnvifDeviceInformation Information,
    IReadOnlyDictionary<string, int> ChannelByToken,
    IReadOnlyList<OnvifProfile> Profiles);

/// <summary>
/// Reads a device's description over ONVIF and maps it to channels.
/// </summary>
/// <remarks>
/// Steps:
/// 1. GetSystemDateAndTime without credentials → clock offset (a wrong camera clock is the classic NotAuthorized).
/// 2. GetDeviceInformation → serial number (the device id), manufacturer, model, firmware.
/// 3. GetCapabilities(All) and GetServices → service addresses, rewritten to the address the device was reached at.
/// 4. Media2 GetProfiles when the device has Media2, else Media GetProfiles; Media GetVideoSources.
/// 5. Channels: video sources in source order (1-based); each source's profiles sorted by resolution: main = highest,
///    sub = next. An NVR with 8 linked cameras has 8 sources → 8 channels.
/// 6. GetStreamUri for each main/sub profile (rewritten).
/// </remarks>
public static class OnvifDeviceReader
{
    public static async Task<OnvifDeviceSnapshot> ReadAsync(OnvifSoapClient client, TimeProvider time, CancellationToken ct)
    {
        // :: Step 1
        try
        {
            var deviceTime = DeviceParsers.ParseSystemDateAndTime(await client.CallAsync(client.DeviceService, OnvifRequests.GetSystemDateAndTime(), "GetSystemDateAndTime", ct, authenticate: false).ConfigureAwait(false));
            if (deviceTime is { } t)
            {
                client.ClockOffset = t - time.GetUtcNow();
            }
        }
        catch (DeviceException e) when (e.Kind is DeviceErrorKind.Failed or DeviceErrorKind.Unauthorized)
        {
            // Some firmware wants credentials even here; go on without a clock correction.
        }

        // :: Step 2
        var info = DeviceParsers.ParseDeviceInformation(await client.CallAsync(client.DeviceService, OnvifRequests.GetDeviceInformation(), "GetDeviceInformation", ct).ConfigureAwait(false));

        // :: Step 3
        var addresses = new OnvifServiceAddresses();
        DeviceException? capabilitiesError = null;
        try
        {
            addresses = DeviceParsers.ParseCapabilities(await client.CallAsync(client.DeviceService, OnvifRequests.GetCapabilities(), "GetCapabilities", ct).ConfigureAwait(false));
        }
        catch (DeviceException e) when (e.Kind != DeviceErrorKind.Timeout)
        {
            capabilitiesError = e;
        }
        try
        {
            addresses = addresses.Merge(DeviceParsers.ParseServices(await client.CallAsync(client.DeviceService, OnvifRequests.GetServices(true), "GetServices", ct).ConfigureAwait(false)));
        }
        catch (DeviceException e) when (e.Kind != DeviceErrorKind.Timeout && capabilitiesError is null)
        {
            // GetServices is optional before ONVIF 2.0 (the Axis fixture answers ter:Action).
        }
        if (addresses.Media is null && addresses.Media2 is null)
        {
            throw capabilitiesError ?? new DeviceException(DeviceErrorKind.NotSupported, "the device has no ONVIF media service (neither Media nor Media2).");
        }
        var rewriter = new AddressRewriter(client.DeviceService, (addresses.Device ?? addresses.Media ?? addresses.Media2)?.Host);
        var endpoints = new OnvifEndpoints
        {
            Device = client.DeviceService,
            Media = rewriter.Service(addresses.Media),
            Media2 = rewriter.Service(addresses.Media2),
            Ptz = rewriter.Service(addresses.Ptz),
            Events = rewriter.Service(addresses.Events),
            Search = rewriter.Service(addresses.Search),
            Replay = rewriter.Service(addresses.Replay),
            Recording = rewriter.Service(addresses.Recording),
            ClockOffset = client.ClockOffset,
        };

        // :: Step 4
        IReadOnlyList<OnvifProfile> profiles = [];
        var media2 = false;
        if (endpoints.Media2 is not null)
        {
            try
            {
                profiles = MediaParsers.ParseProfiles(await client.CallAsync(endpoints.Media2, OnvifRequests.GetProfiles2(), "GetProfiles", ct).ConfigureAwait(false));
                media2 = true;
            }
            catch (DeviceException e) when (e.Kind is DeviceErrorKind.Failed or DeviceErrorKind.NotSupported && endpoints.Media is not null)
            {
            }
        }
        if (!media2)
        {
            profiles = MediaParsers.ParseProfiles(await client.CallAsync(endpoints.Media!, OnvifRequests.GetProfiles(), "GetProfiles", ct).ConfigureAwait(false));
        }
        IReadOnlyList<OnvifVideoSource> sources = [];
        if (endpoints.Media is not null)
        {
            try
            {
                sources = MediaParsers.ParseVideoSources(await client.CallAsync(endpoints.Media, OnvifRequests.GetVideoSources(), "GetVideoSources", ct).ConfigureAwait(false));
            }
            catch (DeviceException e) when (e.Kind is DeviceErrorKind.Failed or DeviceErrorKind.NotSupported)
            {
            }
        }
        var sourceTokens = sources.Select(s => s.Token).ToList();
        foreach (var p in profiles)
        {
            // Sources only named by profiles (no GetVideoSources) follow in profile order.
            if (p.VideoSourceToken is not null && !sourceTokens.Contains(p.VideoSourceToken))
            {
                sourceTokens.Add(p.VideoSourceToken);
            }
        }

        // :: Step 5 and 6
        var channels = new List<ChannelInfo>();
        var byToken = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < sourceTokens.Count; i++)
        {
            var number = i + 1;
            var token = sourceTokens[i];
            var mine = profiles.Where(p => p.VideoSourceToken == token).OrderByDescending(p => p.Pixels).ToList();
            if (mine.Count == 0)
            {
                continue;
            }
            byToken.TryAdd(token, number);
            foreach (var p in mine)
            {
                if (p.VideoSourceConfigurationToken is not null)
                {
                    byToken.TryAdd(p.VideoSourceConfigurationToken, number);
                }
            }
            var main = mine[0];
            var sub = mine.Count > 1 ? mine[1] : null;
            var mediaService = media2 ? endpoints.Media2! : endpoints.Media!;
            var mainUri = rewriter.Stream(await StreamUriAsync(client, mediaService, media2, main.Token, ct).ConfigureAwait(false));
            var subUri = sub is null ? null : rewriter.Stream(await StreamUriAsync(client, mediaService, media2, sub.Token, ct).ConfigureAwait(false));
            channels.Add(new ChannelInfo
            {
                Channel = number,
                Name = token,
                MainUri = mainUri,
                SubUri = subUri,
                MainProfileToken = main.Token,
                SubProfileToken = sub?.Token,
                VideoSourceToken = token,
                Ptz = main.PtzConfigurationToken is not null && endpoints.Ptz is not null,
                Backchannel = mine.Any(p => p.HasAudioOutput),
                Playback = endpoints.Replay is not null,
            });
        }

        // The device's name for people: the ONVIF "name" scope (Core §7.3.2.2), best effort.
        string? name = null;
        try
        {
            name = OnvifScopes.Parse(DeviceParsers.ParseScopes(await client.CallAsync(client.DeviceService, OnvifRequests.GetScopes(), "GetScopes", ct).ConfigureAwait(false))).Name;
        }
        catch (DeviceException e) when (e.Kind != DeviceErrorKind.Timeout)
        {
        }

        var device = new DeviceInfo
        {
            DeviceId = DeviceIdOf(info, client.DeviceService),
            Name = string.IsNullOrWhiteSpace(name) ? null : name.Trim(),
            Manufacturer = info.Manufacturer,
            Model = info.Model,
            Firmware = info.FirmwareVersion,
            Channels = channels,
            Onvif = endpoints,
            Online = true,
        };
        return new OnvifDeviceSnapshot(device, info, byToken, profiles);
    }

    private static async Task<Uri> StreamUriAsync(OnvifSoapClient client, Uri media, bool media2, string profile, CancellationToken ct) =>
        MediaParsers.ParseStreamUri(await client.CallAsync(media, media2 ? OnvifRequests.GetStreamUri2(profile) : OnvifRequests.GetStreamUri(profile), "GetStreamUri", ct).ConfigureAwait(false));

    /// <summary>The serial number, made safe for RTSP paths (contract §9: no '/', '?', '#', spaces).</summary>
    public static string DeviceIdOf(OnvifDeviceInformation info, Uri reached)
    {
        var raw = info.SerialNumber ?? ("onvif-" + reached.Host.Trim('[', ']'));
        var chars = raw.Trim().Select(c => c is '/' or '?' or '#' or ' ' or '\\' ? '-' : c).ToArray();
        return new string(chars);
    }
}
