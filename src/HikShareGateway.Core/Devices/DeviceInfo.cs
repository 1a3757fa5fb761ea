namespace HikShareGateway.Core.Devices;

/// <summary>Device login. Never logged, never published: <see cref="ToString"/> masks it.</summary>
public sealed record DeviceCredentials(string? Username, string? Password)
{
    public static DeviceCredentials None { get; } = new(null, null);
    public override string ToString() => Username is null ? "(none)" : $"{Username}:***";
}

/// <summary>One channel ("linked camera") of a device, 1-based.</summary>
public sealed record ChannelInfo
{
    public required int Channel { get; init; }
    public string? Name { get; init; }
    /// <summary>Upstream RTSP URI of the main stream (credentials not embedded).</summary>
    public Uri? MainUri { get; init; }
    /// <summary>Upstream RTSP URI of the sub stream.</summary>
    public Uri? SubUri { get; init; }
    /// <summary>Playback URL template with <c>{start}</c> and <c>{end}</c> placeholders (basic ISO 8601 UTC).</summary>
    public string? PlaybackTemplate { get; init; }
    /// <summary>ONVIF media profile tokens (main, sub) when the device came from ONVIF.</summary>
    public string? MainProfileToken { get; init; }
    public string? SubProfileToken { get; init; }
    /// <summary>ONVIF video source token this channel maps to.</summary>
    public string? VideoSourceToken { get; init; }
    public bool Ptz { get; init; }
    public bool Backchannel { get; init; }
    public bool Playback { get; init; }

    public Uri? StreamUri(StreamKind kind) => kind == StreamKind.Sub ? SubUri : MainUri;
}

public enum StreamKind { Main, Sub }

/// <summary>ONVIF service addresses of a device (already rewritten to the address the gateway reaches it on).</summary>
public sealed record OnvifEndpoints
{
    public required Uri Device { get; init; }
    public Uri? Media { get; init; }
    public Uri? Media2 { get; init; }
    public Uri? Ptz { get; init; }
    public Uri? Events { get; init; }
    public Uri? Search { get; init; }
    public Uri? Replay { get; init; }
    public Uri? Recording { get; init; }
    /// <summary>Device clock minus ours, applied to WS-UsernameToken <c>Created</c>.</summary>
    public TimeSpan ClockOffset { get; init; }
}

public enum DeviceSource { Configuration, Discovery, Demo }

/// <summary>A recorder or camera the gateway knows, keyed by its id (the serial number for ONVIF devices).</summary>
public sealed record DeviceInfo
{
    public required string DeviceId { get; init; }
    /// <summary>The device's own name: <c>Devices[].Name</c>, or the ONVIF <c>name</c> scope. Null when neither says.</summary>
    public string? Name { get; init; }
    public string? Manufacturer { get; init; }
    public string? Model { get; init; }
    public string? Firmware { get; init; }
    public required IReadOnlyList<ChannelInfo> Channels { get; init; }
    public DeviceCredentials Credentials { get; init; } = DeviceCredentials.None;
    public OnvifEndpoints? Onvif { get; init; }
    /// <summary>Base URL for Hikvision ISAPI (PTZ, two-way audio fallbacks), when known.</summary>
    public Uri? IsapiBase { get; init; }
    public bool Online { get; init; } = true;
    public DeviceSource Source { get; init; }

    public ChannelInfo? FindChannel(int channel)
    {
        foreach (var c in Channels)
        {
            if (c.Channel == channel)
            {
                return c;
            }
        }
        return null;
    }
}

/// <summary>The devices the gateway knows now. Owned by the device layer; the relay, PTZ and playback read it.</summary>
public interface IDeviceCatalog
{
    IReadOnlyList<DeviceInfo> Devices { get; }
    bool TryGetDevice(string deviceId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DeviceInfo? device);
    /// <summary>Raised after a device was added, removed, changed or went on/offline.</summary>
    event Action? Changed;
}
