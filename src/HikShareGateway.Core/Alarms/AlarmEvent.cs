namespace HikShareGateway.Core.Alarms;

/// <summary>A device event that is an alarm (contract §7). <c>Kind</c>: motion, lineCrossing, intrusion, tamper, videoLoss, alarmInput.</summary>
public sealed record AlarmEvent(string DeviceId, int Channel, string Kind, string State, DateTimeOffset At);

/// <summary>An alarm with the accounts allowed to receive it.</summary>
public sealed record RoutedAlarm(AlarmEvent Alarm, IReadOnlyList<string> Recipients);
