-- navigation_json of a compressed transcript row, as OpenClaw 2026.9.6 computes it in SQLite
-- (dist/transcript-payload-*.mjs: navigationProjection, projectTranscriptPayloadNavigationSql,
-- projectResetBoundaryNavigationSql, projectModelContextNavigationSql, projectModelContextEventSql),
-- with its Kysely templates written out. ?1 is the event JSON, ?2 the report facts JSON.
-- Checked byte for byte against the compressed rows of ../shared/fixtures/openclaw-sample2.
SELECT CASE WHEN json_valid(?1) AND json_valid(?2) THEN CASE
  WHEN json_type(?1) != 'object' OR coalesce(json_type(?1, '$.message'), 'null') NOT IN ('object', 'null') THEN NULL
  ELSE json_object('version', 1,
    'report', json(?2),
    'navigation', json((SELECT json_group_object(root_member.key,
        CASE WHEN root_member.key = 'message' AND root_member.type = 'object'
          THEN json((SELECT json_group_object(message_member.key,
              CASE WHEN message_member.key = '__openclaw' AND message_member.type = 'object'
                THEN json((SELECT json_group_object(key, CASE type
                    WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
                    WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
                    ELSE value END) FROM json_each(message_member.value)
                  WHERE key IN ('runId', 'steerTargetRunId', 'contextFreeCommand')))
                ELSE CASE message_member.type
                  WHEN 'object' THEN json(message_member.value) WHEN 'array' THEN json(message_member.value)
                  WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
                  ELSE message_member.value END END)
            FROM json_each(root_member.value) AS message_member
            WHERE message_member.key IN ('role', 'idempotencyKey', 'provenance', 'excludeFromContext', '__openclaw')))
          ELSE CASE root_member.type
            WHEN 'object' THEN json(root_member.value) WHEN 'array' THEN json(root_member.value)
            WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
            ELSE root_member.value END END)
      FROM json_each(?1) AS root_member
      WHERE root_member.key IN ('type', 'id', 'parentId', 'targetId', 'appendParentId', 'appendMode',
        'timestamp', 'version', 'cwd', 'firstKeptEntryId', 'reason', 'tokensBefore', 'thinkingLevel',
        'provider', 'modelId', 'fromId', 'customType', 'display', 'label', 'name', 'message'))),
    'reset', json(CASE WHEN json_valid(?1) THEN CASE WHEN json_type(?1) = 'object' THEN
        json_set((SELECT json_group_object(key, CASE type
            WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
            WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
            ELSE value END) FROM json_each(?1)
          WHERE key IN ('type', 'id', 'parentId', 'targetId', 'appendParentId', 'appendMode',
            'timestamp', 'firstKeptEntryId', 'customType', 'display')),
          '$.message', json_object('role', json_extract(?1, '$.message.role')))
      ELSE ?1 END ELSE ?1 END),
    'model', json(CASE json_extract(?1, '$.type')
      WHEN 'message' THEN json_set((SELECT json_group_object(key, CASE type
            WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
            WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
            ELSE value END) FROM json_each(?1)
          WHERE key IN ('type', 'id', 'parentId', 'targetId', 'appendParentId', 'appendMode',
            'timestamp', 'version', 'cwd', 'firstKeptEntryId', 'reason', 'tokensBefore', 'thinkingLevel',
            'provider', 'modelId', 'fromId', 'customType', 'display', 'label', 'name')),
        '$.message', json_set((SELECT json_group_object(key, CASE type
              WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
              WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
              ELSE value END) FROM json_each(json_extract(?1, '$.message'))
            WHERE key IN ('role', 'provider', 'model', 'timestamp', 'excludeFromContext', 'toolCallId',
              'toolUseId', 'tool_call_id', 'tool_use_id', 'callId', 'call_id', 'toolName', 'isError',
              'stopReason', 'customType', 'display')),
          '$.content', json((SELECT json_group_array(json_object(
              'type', CASE WHEN typeof(key) = 'integer' AND key < 8 THEN json_extract(?1, fullkey || '.type') ELSE json_extract(value, '$.type') END,
              'id', CASE WHEN typeof(key) = 'integer' AND key < 8 THEN json_extract(?1, fullkey || '.id') ELSE json_extract(value, '$.id') END,
              'name', CASE WHEN typeof(key) = 'integer' AND key < 8 THEN json_extract(?1, fullkey || '.name') ELSE json_extract(value, '$.name') END))
            FROM json_each(?1, '$.message.content') WHERE type = 'object'
              AND CASE WHEN typeof(key) = 'integer' AND key < 8 THEN json_extract(?1, fullkey || '.type') ELSE json_extract(value, '$.type') END
                IN ('toolCall', 'toolUse', 'functionCall'))),
          '$.command', '', '$.output', '',
          '$.providerReplay', json_object('type', json_extract(?1, '$.message.providerReplay.type')),
          '$.details', json_object('openclawSyntheticMissingToolResult', json(CASE WHEN (
              COALESCE(json_extract(?1, '$.message.details.openclawSyntheticMissingToolResult'), 0) = 1 OR EXISTS (
                SELECT 1 FROM json_each(?1, '$.message.content') WHERE type = 'object'
                  AND CASE WHEN typeof(key) = 'integer' AND key < 8 THEN json_extract(?1, fullkey || '.type') ELSE json_extract(value, '$.type') END = 'text'
                  AND CASE WHEN typeof(key) = 'integer' AND key < 8 THEN json_extract(?1, fullkey || '.text') ELSE json_extract(value, '$.text') END
                    = '[openclaw] missing tool result in session history; inserted synthetic error result for transcript repair.'))
            THEN 'true' ELSE 'false' END))))
      WHEN 'custom_message' THEN json_set((SELECT json_group_object(key, CASE type
            WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
            WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
            ELSE value END) FROM json_each(?1)
          WHERE key IN ('type', 'id', 'parentId', 'targetId', 'appendParentId', 'appendMode',
            'timestamp', 'version', 'cwd', 'firstKeptEntryId', 'reason', 'tokensBefore', 'thinkingLevel',
            'provider', 'modelId', 'fromId', 'customType', 'display', 'label', 'name')), '$.content', json('[]'))
      WHEN 'compaction' THEN json_set((SELECT json_group_object(key, CASE type
            WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
            WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
            ELSE value END) FROM json_each(?1)
          WHERE key IN ('type', 'id', 'parentId', 'targetId', 'appendParentId', 'appendMode',
            'timestamp', 'version', 'cwd', 'firstKeptEntryId', 'reason', 'tokensBefore', 'thinkingLevel',
            'provider', 'modelId', 'fromId', 'customType', 'display', 'label', 'name')), '$.summary', '')
      WHEN 'branch_summary' THEN json_set((SELECT json_group_object(key, CASE type
            WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
            WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
            ELSE value END) FROM json_each(?1)
          WHERE key IN ('type', 'id', 'parentId', 'targetId', 'appendParentId', 'appendMode',
            'timestamp', 'version', 'cwd', 'firstKeptEntryId', 'reason', 'tokensBefore', 'thinkingLevel',
            'provider', 'modelId', 'fromId', 'customType', 'display', 'label', 'name')), '$.summary', '')
      ELSE (SELECT json_group_object(key, CASE type
            WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
            WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
            ELSE value END) FROM json_each(?1)
          WHERE key IN ('type', 'id', 'parentId', 'targetId', 'appendParentId', 'appendMode',
            'timestamp', 'version', 'cwd', 'firstKeptEntryId', 'reason', 'tokensBefore', 'thinkingLevel',
            'provider', 'modelId', 'fromId', 'customType', 'display', 'label', 'name'))
      END),
    'modelBytes', octet_length(CASE WHEN json_extract(?1, '$.message.role') = 'toolResult'
        THEN json_remove(json_remove(?1, '$.message.__openclaw.upstreamUserText'), '$.message.details')
        ELSE json_remove(?1, '$.message.__openclaw.upstreamUserText') END),
    'modelWithoutCheckpointBytes', octet_length(json_remove(CASE WHEN json_extract(?1, '$.message.role') = 'toolResult'
        THEN json_remove(json_remove(?1, '$.message.__openclaw.upstreamUserText'), '$.message.details')
        ELSE json_remove(?1, '$.message.__openclaw.upstreamUserText') END, '$.message.providerReplay')),
    'withoutCustomDataBytes', octet_length(json_remove(?1, '$.data')))
  END ELSE NULL END
