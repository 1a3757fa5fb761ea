namespace HikShareGateway.Http.Ptz;

// The PTZ endpoints' bodies (camelCase through ApiJsonContext: {"status":"moved","mode":"continuous"} …).
internal sealed record PtzMoved(string Status, string Mode);

internal sealed record PtzEnded(string Status, string SessionId);

internal sealed record PtzMoving(string Status, string SessionId, DateTimeOffset StopsAt);

internal sealed record PtzStopped(string Status);

internal sealed record PtzPresetView(string Token, string? Name);

internal sealed record PtzPresetList(IReadOnlyList<PtzPresetView> Presets);

internal sealed record PtzGoingToPreset(string Status, string Preset);
