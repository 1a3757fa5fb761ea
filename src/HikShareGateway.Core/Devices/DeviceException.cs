namespace HikShareGateway.Core.Devices;

public enum DeviceErrorKind
{
    /// <summary>The device answered with an error or garbage (HTTP 502).</summary>
    Failed,
    /// <summary>The device did not answer in time (HTTP 504).</summary>
    Timeout,
    /// <summary>The device does not support the operation (HTTP 409 for PTZ, RTSP 551 for backchannel).</summary>
    NotSupported,
    /// <summary>The device refused our credentials.</summary>
    Unauthorized,
}

/// <summary>A failure of an upstream device, mapped where it arises (SOAP fault, HTTP error, socket error, timeout).</summary>
public sealed class DeviceException(DeviceErrorKind kind, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public DeviceErrorKind Kind { get; } = kind;
}
