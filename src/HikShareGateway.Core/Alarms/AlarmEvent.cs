namespace HikShareGateway.Core.Alarms;

/// <summary>A device event that is an alarm (contract §7). <c>Kind</c>: motion, lineCrossing, intrusion, tamper, videoLoss, alarmInput.</summary>
public sealed record AlarmEvent(string DeviceId, int Channel, string Kind, string State, DateTimeOffset At)
{
    /// <summary>(v1.1) The alarm's id, on <c>start</c> and <c>pulse</c> alarms whose picture is kept; else null.</summary>
    public string? Id { get; init; }

    /// <summary>(v1.1) Path of the alarm's picture (<c>/api/v1/alarms/{id}/snapshot.jpg</c>), with <see cref="Id"/>; else null.</summary>
    public string? Snapshot { get; init; }
}

/// <summary>An alarm with the accounts allowed to receive it.</summary>
public sealed record RoutedAlarm(AlarmEvent Alarm, IReadOnlyList<string> Recipients);
