namespace HikShareGateway.Core.Ptz;

public enum PtzMoveMode { Continuous, Absolute, Relative }

/// <summary>A PTZ move (contract §5). For continuous: velocities in [-1,1]; absolute: positions; relative: translations.</summary>
public sealed record PtzMove(PtzMoveMode Mode, double? Pan, double? Tilt, double? Zoom, double? Speed, TimeSpan? Timeout);

public sealed record PtzPreset(string Token, string? Name);

/// <summary>
/// Moves a device's channel. Implementations throw <see cref="Devices.DeviceException"/>
/// (NotSupported → 409, Timeout → 504, Failed → 502). Privilege checks happen before, in the API layer.
/// </summary>
public interface IPtzService
{
    Task MoveAsync(string deviceId, int channel, PtzMove move, CancellationToken cancellationToken);
    Task StopAsync(string deviceId, int channel, CancellationToken cancellationToken);
    Task<IReadOnlyList<PtzPreset>> GetPresetsAsync(string deviceId, int channel, CancellationToken cancellationToken);
    Task GotoPresetAsync(string deviceId, int channel, string presetToken, CancellationToken cancellationToken);
}
