namespace HikShareGateway.Core.Alarms;

/// <summary>What asking for an alarm's picture gave.</summary>
public enum AlarmPictureStatus
{
    Ok,
    /// <summary>No such alarm, expired, or the caller is not one of its recipients (the same answer: no oracle).</summary>
    NotFound,
    /// <summary>The picture could not be taken (device or decoder failure).</summary>
    Failed,
}

/// <param name="Jpeg">The JPEG when <see cref="Status"/> is Ok.</param>
/// <param name="Reason">Why not, for the viewer, when Failed.</param>
public sealed record AlarmPicture(AlarmPictureStatus Status, ReadOnlyMemory<byte> Jpeg, string? Reason = null);

/// <summary>
/// Alarm pictures (contract §7, v1.1): a <c>start</c> or <c>pulse</c> alarm gets an id and a snapshot path, and the
/// picture of its channel at that instant is kept for <c>Alarms:SnapshotMinutes</c>, for its recipients only.
/// The alarm router calls <see cref="Attach"/> before publishing. Thread-safe.
/// </summary>
public interface IAlarmSnapshots
{
    /// <summary>
    /// The alarm with <see cref="AlarmEvent.Id"/> and <see cref="AlarmEvent.Snapshot"/> set while its picture is being
    /// taken; unchanged for other states, or when pictures are off. Never blocks.
    /// </summary>
    AlarmEvent Attach(AlarmEvent alarm, IReadOnlyList<string> recipients);

    /// <summary>The picture of alarm <paramref name="id"/> for <paramref name="account"/> (normalised), waiting for it if still being taken.</summary>
    Task<AlarmPicture> GetAsync(string id, string account, CancellationToken cancellationToken);
}
