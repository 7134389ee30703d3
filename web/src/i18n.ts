// Every user-visible string of the page lives in this one table.
// zh-CN is the default language; the choice is remembered in localStorage.

export type Lang = 'zh-CN' | 'en';

export const LANGS: Lang[] = ['zh-CN', 'en'];

const zh = {
  'app.title': '村图 · 一村一图',
  'app.short': '村图',
  'lang.zh': '中文',
  'lang.en': 'EN',
  'lang.switch': '切换语言',

  'panel.title': '图层',
  'panel.open': '图层',
  'panel.close': '收起',
  'panel.layers': '图层',
  'panel.legend': '图例',
  'panel.summary': '概况',

  'layer.township': '镇/乡边界',
  'layer.villages': '村/社区边界',
  'layer.grids': '网格',
  'layer.households': '户',
  'layer.roads': '道路',
  'layer.rivers': '河流',
  'layer.facilities': '设施',
  'layer.hazards': '风险隐患',

  'legend.township': '镇/乡界',
  'legend.village': '村/社区界',
  'legend.grid.under': '网格：少于30户',
  'legend.grid.ok': '网格：30–60户（标准）',
  'legend.grid.over': '网格：多于60户',
  'legend.grid.unknown': '网格：户数未知',
  'legend.household': '户（住户）',
  'legend.road.main': '主要道路',
  'legend.road.minor': '村道/巷道',
  'legend.road.track': '机耕路/小路',
  'legend.river': '河流/沟渠',
  'legend.hazard.high': '隐患：重大',
  'legend.hazard.medium': '隐患：较大',
  'legend.hazard.low': '隐患：一般',

  'summary.townships': '镇/乡',
  'summary.villages': '村/社区',
  'summary.grids': '网格',
  'summary.households': '户',
  'summary.facilities': '设施',
  'summary.hazards': '风险隐患',

  'kind.township': '镇/乡',
  'kind.village': '村/社区',
  'kind.hamlet': '自然村/村民小组',
  'kind.grid': '网格',
  'kind.lane': '街巷/微网格',
  'kind.household': '户',
  'kind.road': '道路',
  'kind.waterway': '水系',

  'facility.service_centre': '党群服务中心',
  'facility.clinic': '卫生室/诊所',
  'facility.school': '学校',
  'facility.shelter': '避难场所',
  'facility.fire_station': '消防站',
  'facility.canteen': '老年食堂',
  'facility.toilet': '公共厕所',
  'facility.camera': '监控',
  'facility.police': '警务室',
  'facility.other': '其他设施',

  'hazard.landslide': '地质灾害隐患点',
  'hazard.flood': '洪涝风险区',
  'hazard.dangerous_house': '危房',
  'hazard.fire': '火灾隐患',
  'hazard.water': '溺水危险点',
  'hazard.other': '其他隐患',

  'severity.low': '一般',
  'severity.medium': '较大',
  'severity.high': '重大',

  'road.primary': '国/省道',
  'road.secondary': '县道',
  'road.tertiary': '乡道',
  'road.residential': '村内道路',
  'road.unclassified': '村道',
  'road.service': '巷道',
  'road.track': '机耕路',
  'road.path': '小路',
  'road.footway': '步行道',
  'road.other': '道路',

  'waterway.river': '河流',
  'waterway.stream': '溪流',
  'waterway.canal': '水渠',
  'waterway.ditch': '沟渠',
  'waterway.drain': '排水渠',
  'waterway.other': '水系',

  'field.kind': '类型',
  'field.name': '名称',
  'field.code': '编码',
  'field.households': '户数',
  'field.area': '面积',
  'field.chain': '所属',
  'field.houseNumber': '门牌号',
  'field.grid': '所在网格',
  'field.severity': '等级',
  'field.class': '等级',
  'field.id': '编号',

  'fmt.households': '{n}户',
  'fmt.km2': '{n} 平方公里',
  'label.householdsSuffix': '户',
  'grid.rule.under': '（少于30户）',
  'grid.rule.ok': '（符合30–60户）',
  'grid.rule.over': '（超过60户）',

  'popup.loading': '加载中…',
  'popup.unnamed': '（未命名）',
  'popup.noHouseNumber': '（无门牌）',
  'popup.close': '关闭',
  'error.load': '地图数据加载失败：',

  'field.address': '地址',
  'field.headName': '户主',
  'field.members': '人口',
  'field.phone': '电话',
  'field.idCard': '身份证',
  'field.tags': '重点人群',
  'field.partyCentral': '党员中心户',

  'fmt.persons': '{n}人',
  'value.yes': '是',
  'value.no': '否',
  'value.none': '无',

  'household.forbidden': '无权查看该户信息',
  'household.notFound': '未找到该户',
  'household.error': '住户信息加载失败',

  'tag.elderly_alone': '独居老人',
  'tag.disabled': '残疾人',
  'tag.low_income': '低保户',
  'tag.extreme_hardship': '特困人员',
  'tag.left_behind_child': '留守儿童',
  'tag.child_in_difficulty': '困境儿童',

  'role.township_admin': '镇管理员',
  'role.leader': '镇领导',
  'role.village_cadre': '村干部',
  'role.grid_worker': '网格员',
  'role.department': '部门',

  'auth.login': '登录',
  'auth.logout': '退出',
  'auth.loginTitle': '登录村图',
  'auth.username': '用户名',
  'auth.password': '密码',
  'auth.submit': '登录',
  'auth.submitting': '正在登录…',
  'auth.hint': '地图无需登录即可查看；住户信息须登录后按权限查看。',
  'auth.backToMap': '返回地图',
  'auth.missing': '请输入用户名和密码',
  'auth.failed': '登录失败',
  'auth.network': '无法连接服务器，请稍后再试',
  'auth.account': '账户',
  'auth.changePassword': '修改密码',
  'auth.currentPassword': '当前密码',
  'auth.newPassword': '新密码',
  'auth.confirmPassword': '确认新密码',
  'auth.passwordRule': '至少8个字符',
  'auth.mismatch': '两次输入的新密码不一致',
  'auth.passwordChanged': '密码已修改',
  'auth.save': '保存',
  'auth.saving': '正在保存…',
  'auth.cancel': '取消',
  'auth.logoutFailed': '退出失败：',

  'draw.title': '网格编辑',
  'draw.open': '网格',
  'draw.backToMap': '返回地图',
  'draw.village': '村/社区',
  'draw.rule': '每个网格 {min}–{max} 户',
  'draw.legend.under': '少于{min}户',
  'draw.legend.ok': '{min}–{max}户',
  'draw.legend.over': '多于{max}户',
  'draw.legend.gap': '未划入网格',
  'draw.tools': '工具',
  'draw.tool.create': '新建网格',
  'draw.tool.split': '分割',
  'draw.tool.merge': '合并',
  'draw.tool.move': '移动顶点',
  'draw.tool.fill': '填满空白',
  'draw.tool.delete': '删除网格',
  'draw.undo': '撤销',
  'draw.redo': '重做',
  'draw.finish': '完成',
  'draw.cancel': '取消',
  'draw.hint.select': '点击地图或列表中的网格以选择它。',
  'draw.hint.create': '依次点击顶点画出新网格，靠近网格边界、村界、道路或河流时自动吸附。双击、点“完成”或按回车结束。超出空白的部分会被裁掉。',
  'draw.hint.split': '画一条穿过{name}的分割线：依次点击顶点，两端落在网格外。双击、点“完成”或按回车结束。',
  'draw.hint.splitAny': '画一条穿过要分割的网格的线：依次点击顶点，两端落在网格外。双击、点“完成”或按回车结束。',
  'draw.hint.merge': '点击与{name}相邻的网格，把它合并进{name}。',
  'draw.hint.mergeSelect': '先选择一个网格，再点击与它相邻的网格。',
  'draw.hint.move': '拖动{name}的顶点（白色圆点）；相邻网格共用的顶点一起移动。',
  'draw.hint.moveSelect': '先选择一个网格，再拖动它的顶点。',
  'draw.hint.keys': 'Ctrl+Z 撤销，Ctrl+Shift+Z 或 Ctrl+Y 重做，Esc 取消',
  'draw.needSelection': '请先选择一个网格',
  'draw.gridList': '网格列表',
  'draw.noGrids': '该村还没有网格',
  'draw.gridLabel': '{name} · {n}户',
  'draw.gapLabel': '未划入网格 · {n}户',
  'draw.households': '{n}户',
  'draw.keyPopulation': '重点人群{n}户',
  'draw.gapRow': '未划入网格：{n}户，{area}',
  'draw.noGap': '全村已划入网格',
  'draw.ha': '{n} 公顷',
  'draw.selected': '已选网格',
  'draw.name': '名称',
  'draw.rename': '改名',
  'draw.staff': '人员',
  'draw.leader': '网格长',
  'draw.workers': '网格员',
  'draw.nobody': '（未指定）',
  'draw.noStaff': '未配备人员',
  'draw.noCandidates': '没有可选的人员',
  'draw.staffSave': '保存人员',
  'draw.staffSaved': '人员已保存',
  'draw.staffError': '人员保存失败：',
  'draw.history': '历史版本',
  'draw.historyShow': '查看历史版本',
  'draw.historyHide': '收起历史版本',
  'draw.historyHint': '点击一个版本，在地图上用虚线显示它的范围（与当前范围对比）。',
  'draw.restore': '恢复此版本',
  'draw.version': '第{v}版',
  'draw.currentVersion': '当前',
  'draw.system': '系统',
  'draw.op.current': '当前版本',
  'draw.op.split': '分割',
  'draw.op.merge': '合并',
  'draw.op.create': '新建',
  'draw.op.update': '修改',
  'draw.op.delete': '删除',
  'draw.op.move': '移动顶点',
  'draw.op.restore': '恢复',
  'draw.op.rename': '改名',
  'draw.op.load': '导入',
  'draw.op.other': '修改',
  'draw.preview': '保存前预览',
  'draw.preview.split': '分割网格',
  'draw.preview.merge': '合并网格',
  'draw.preview.create': '新建网格',
  'draw.preview.fill': '填满空白',
  'draw.preview.update': '修改网格',
  'draw.preview.delete': '删除网格',
  'draw.preview.move': '移动顶点',
  'draw.preview.restore': '恢复历史版本',
  'draw.preview.checking': '正在检查…',
  'draw.preview.moves': '住户变化',
  'draw.preview.noMoves': '没有住户更换网格',
  'draw.preview.counts': '保存后各网格户数',
  'draw.preview.removed': '（将删除）',
  'draw.preview.warnings': '注意',
  'draw.preview.notes': '说明',
  'draw.preview.gaps': '未划入网格',
  'draw.move.sentence': '{n} 户从 {from} 移到 {to}',
  'draw.move.key': '，其中 {k} 户为重点人群户（更换网格员）',
  'draw.move.gap': '未划入网格的区域',
  'draw.status.under': '偏少',
  'draw.status.ok': '符合',
  'draw.status.over': '偏多',
  'draw.save': '保存',
  'draw.saving': '正在保存…',
  'draw.saved': '已保存：',
  'draw.savedPlain': '已保存',
  'draw.stale': '其他人刚刚修改了这些网格，本次修改未保存。已重新载入最新的网格，请在此基础上重新操作。',
  'draw.error': '无法保存：',
  'draw.loadError': '网格加载失败：',
  'draw.noVillage': '您没有可以编辑网格的村/社区。',
  'draw.tooFew': '顶点不够，无法完成',
};

type Key = keyof typeof zh;

const en: Record<Key, string> = {
  'app.title': 'Cuntu · One village, one map',
  'app.short': 'Cuntu',
  'lang.zh': '中文',
  'lang.en': 'EN',
  'lang.switch': 'Switch language',

  'panel.title': 'Layers',
  'panel.open': 'Layers',
  'panel.close': 'Hide',
  'panel.layers': 'Layers',
  'panel.legend': 'Legend',
  'panel.summary': 'Overview',

  'layer.township': 'Township boundary',
  'layer.villages': 'Villages / communities',
  'layer.grids': 'Grids',
  'layer.households': 'Households',
  'layer.roads': 'Roads',
  'layer.rivers': 'Rivers',
  'layer.facilities': 'Facilities',
  'layer.hazards': 'Risks and hazards',

  'legend.township': 'Township boundary',
  'legend.village': 'Village boundary',
  'legend.grid.under': 'Grid: under 30 households',
  'legend.grid.ok': 'Grid: 30–60 households (standard)',
  'legend.grid.over': 'Grid: over 60 households',
  'legend.grid.unknown': 'Grid: count unknown',
  'legend.household': 'Household',
  'legend.road.main': 'Main road',
  'legend.road.minor': 'Village road / lane',
  'legend.road.track': 'Track / path',
  'legend.river': 'River / ditch',
  'legend.hazard.high': 'Hazard: major',
  'legend.hazard.medium': 'Hazard: serious',
  'legend.hazard.low': 'Hazard: ordinary',

  'summary.townships': 'Townships',
  'summary.villages': 'Villages',
  'summary.grids': 'Grids',
  'summary.households': 'Households',
  'summary.facilities': 'Facilities',
  'summary.hazards': 'Hazards',

  'kind.township': 'Township',
  'kind.village': 'Village / community',
  'kind.hamlet': 'Hamlet',
  'kind.grid': 'Grid',
  'kind.lane': 'Lane / micro-grid',
  'kind.household': 'Household',
  'kind.road': 'Road',
  'kind.waterway': 'Waterway',

  'facility.service_centre': 'Party-mass service centre',
  'facility.clinic': 'Clinic',
  'facility.school': 'School',
  'facility.shelter': 'Emergency shelter',
  'facility.fire_station': 'Fire station',
  'facility.canteen': 'Canteen for the elderly',
  'facility.toilet': 'Public toilet',
  'facility.camera': 'Camera',
  'facility.police': 'Police office',
  'facility.other': 'Other facility',

  'hazard.landslide': 'Geological hazard point',
  'hazard.flood': 'Flood risk zone',
  'hazard.dangerous_house': 'Dangerous house',
  'hazard.fire': 'Fire hazard',
  'hazard.water': 'Drowning danger point',
  'hazard.other': 'Other hazard',

  'severity.low': 'Ordinary',
  'severity.medium': 'Serious',
  'severity.high': 'Major',

  'road.primary': 'Primary road',
  'road.secondary': 'Secondary road',
  'road.tertiary': 'Tertiary road',
  'road.residential': 'Residential road',
  'road.unclassified': 'Village road',
  'road.service': 'Lane',
  'road.track': 'Track',
  'road.path': 'Path',
  'road.footway': 'Footway',
  'road.other': 'Road',

  'waterway.river': 'River',
  'waterway.stream': 'Stream',
  'waterway.canal': 'Canal',
  'waterway.ditch': 'Ditch',
  'waterway.drain': 'Drain',
  'waterway.other': 'Waterway',

  'field.kind': 'Kind',
  'field.name': 'Name',
  'field.code': 'Code',
  'field.households': 'Households',
  'field.area': 'Area',
  'field.chain': 'Part of',
  'field.houseNumber': 'House number',
  'field.grid': 'Grid',
  'field.severity': 'Severity',
  'field.class': 'Class',
  'field.id': 'ID',

  'fmt.households': '{n} households',
  'fmt.km2': '{n} km²',
  'label.householdsSuffix': ' hh',
  'grid.rule.under': ' (under 30)',
  'grid.rule.ok': ' (within 30–60)',
  'grid.rule.over': ' (over 60)',

  'popup.loading': 'Loading…',
  'popup.unnamed': '(unnamed)',
  'popup.noHouseNumber': '(no house number)',
  'popup.close': 'Close',
  'error.load': 'Could not load the map data: ',

  'field.address': 'Address',
  'field.headName': 'Head of household',
  'field.members': 'Members',
  'field.phone': 'Phone',
  'field.idCard': 'ID number',
  'field.tags': 'Key population',
  'field.partyCentral': 'Party-member central household',

  'fmt.persons': '{n}',
  'value.yes': 'Yes',
  'value.no': 'No',
  'value.none': 'None',

  'household.forbidden': 'You may not view this household',
  'household.notFound': 'Household not found',
  'household.error': 'Could not load the household',

  'tag.elderly_alone': 'Elderly living alone',
  'tag.disabled': 'Person with disability',
  'tag.low_income': 'Minimum living allowance',
  'tag.extreme_hardship': 'Extreme hardship',
  'tag.left_behind_child': 'Left-behind child',
  'tag.child_in_difficulty': 'Child in difficulty',

  'role.township_admin': 'Township administrator',
  'role.leader': 'Township leader',
  'role.village_cadre': 'Village cadre',
  'role.grid_worker': 'Grid worker',
  'role.department': 'Department',

  'auth.login': 'Log in',
  'auth.logout': 'Log out',
  'auth.loginTitle': 'Log in to Cuntu',
  'auth.username': 'Username',
  'auth.password': 'Password',
  'auth.submit': 'Log in',
  'auth.submitting': 'Logging in…',
  'auth.hint': 'The map is open to everyone; household details need a login and are shown according to your role.',
  'auth.backToMap': 'Back to the map',
  'auth.missing': 'Enter your username and password',
  'auth.failed': 'Login failed',
  'auth.network': 'Could not reach the server; please try again later',
  'auth.account': 'Account',
  'auth.changePassword': 'Change password',
  'auth.currentPassword': 'Current password',
  'auth.newPassword': 'New password',
  'auth.confirmPassword': 'Confirm new password',
  'auth.passwordRule': 'At least 8 characters',
  'auth.mismatch': 'The two new passwords differ',
  'auth.passwordChanged': 'Password changed',
  'auth.save': 'Save',
  'auth.saving': 'Saving…',
  'auth.cancel': 'Cancel',
  'auth.logoutFailed': 'Could not log out: ',

  'draw.title': 'Grid editor',
  'draw.open': 'Grids',
  'draw.backToMap': 'Back to the map',
  'draw.village': 'Village',
  'draw.rule': 'Each grid: {min}–{max} households',
  'draw.legend.under': 'under {min} households',
  'draw.legend.ok': '{min}–{max} households',
  'draw.legend.over': 'over {max} households',
  'draw.legend.gap': 'not in any grid',
  'draw.tools': 'Tools',
  'draw.tool.create': 'New grid',
  'draw.tool.split': 'Split',
  'draw.tool.merge': 'Merge',
  'draw.tool.move': 'Move vertex',
  'draw.tool.fill': 'Fill uncovered part',
  'draw.tool.delete': 'Delete grid',
  'draw.undo': 'Undo',
  'draw.redo': 'Redo',
  'draw.finish': 'Finish',
  'draw.cancel': 'Cancel',
  'draw.hint.select': 'Click a grid on the map or in the list to select it.',
  'draw.hint.create': 'Click the vertices of the new grid; they snap onto grid edges, the village boundary, roads and rivers nearby. Double-click, press Finish or Enter to end. What overlaps other grids is cut away.',
  'draw.hint.split': 'Draw a line across {name}: click its vertices, both ends outside the grid. Double-click, press Finish or Enter to end.',
  'draw.hint.splitAny': 'Draw a line across the grid to split: click its vertices, both ends outside the grid. Double-click, press Finish or Enter to end.',
  'draw.hint.merge': 'Click a grid next to {name} to merge it into {name}.',
  'draw.hint.mergeSelect': 'Select a grid first, then click a grid next to it.',
  'draw.hint.move': 'Drag a vertex (white dot) of {name}; a vertex shared with neighbouring grids moves in all of them.',
  'draw.hint.moveSelect': 'Select a grid first, then drag its vertices.',
  'draw.hint.keys': 'Ctrl+Z undo, Ctrl+Shift+Z or Ctrl+Y redo, Esc cancel',
  'draw.needSelection': 'Select a grid first',
  'draw.gridList': 'Grids',
  'draw.noGrids': 'This village has no grids yet',
  'draw.gridLabel': '{name} · {n} hh',
  'draw.gapLabel': 'Not in any grid · {n} hh',
  'draw.households': '{n} households',
  'draw.keyPopulation': '{n} key-population',
  'draw.gapRow': 'Not in any grid: {n} households, {area}',
  'draw.noGap': 'The whole village is in grids',
  'draw.ha': '{n} ha',
  'draw.selected': 'Selected grid',
  'draw.name': 'Name',
  'draw.rename': 'Rename',
  'draw.staff': 'Staff',
  'draw.leader': 'Grid leader',
  'draw.workers': 'Grid workers',
  'draw.nobody': '(none)',
  'draw.noStaff': 'No staff assigned',
  'draw.noCandidates': 'Nobody to choose from',
  'draw.staffSave': 'Save staff',
  'draw.staffSaved': 'Staff saved',
  'draw.staffError': 'Could not save the staff: ',
  'draw.history': 'History',
  'draw.historyShow': 'Show history',
  'draw.historyHide': 'Hide history',
  'draw.historyHint': 'Click a version to see its outline on the map (dashed) over the current one.',
  'draw.restore': 'Restore this version',
  'draw.version': 'version {v}',
  'draw.currentVersion': 'current',
  'draw.system': 'system',
  'draw.op.current': 'current version',
  'draw.op.split': 'split',
  'draw.op.merge': 'merge',
  'draw.op.create': 'created',
  'draw.op.update': 'changed',
  'draw.op.delete': 'deleted',
  'draw.op.move': 'vertex moved',
  'draw.op.restore': 'restored',
  'draw.op.rename': 'renamed',
  'draw.op.load': 'imported',
  'draw.op.other': 'changed',
  'draw.preview': 'Preview before saving',
  'draw.preview.split': 'Split a grid',
  'draw.preview.merge': 'Merge grids',
  'draw.preview.create': 'New grid',
  'draw.preview.fill': 'Fill the uncovered part',
  'draw.preview.update': 'Change a grid',
  'draw.preview.delete': 'Delete a grid',
  'draw.preview.move': 'Move a vertex',
  'draw.preview.restore': 'Restore an old version',
  'draw.preview.checking': 'Checking…',
  'draw.preview.moves': 'Households that change grid',
  'draw.preview.noMoves': 'No household changes grid',
  'draw.preview.counts': 'Households per grid after saving',
  'draw.preview.removed': '(removed)',
  'draw.preview.warnings': 'Warnings',
  'draw.preview.notes': 'Notes',
  'draw.preview.gaps': 'Not in any grid',
  'draw.move.sentence': '{n} households move from {from} to {to}',
  'draw.move.key': '; {k} of them are key-population households (new grid worker)',
  'draw.move.gap': 'the uncovered part',
  'draw.status.under': 'too few',
  'draw.status.ok': 'within the rule',
  'draw.status.over': 'too many',
  'draw.save': 'Save',
  'draw.saving': 'Saving…',
  'draw.saved': 'Saved: ',
  'draw.savedPlain': 'Saved',
  'draw.stale': 'Someone else has just changed these grids, so nothing was saved. The latest grids are shown now; please make your change again on them.',
  'draw.error': 'Cannot save: ',
  'draw.loadError': 'Could not load the grids: ',
  'draw.noVillage': 'You have no village whose grids you may edit.',
  'draw.tooFew': 'Not enough vertices to finish',
};

export const TRANSLATIONS: Record<Lang, Record<Key, string>> = { 'zh-CN': zh, en };

export type TKey = Key;

const STORAGE_KEY = 'cuntu.lang';

function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    /* storage may be disabled */
  }
  return 'zh-CN';
}

let current: Lang = initialLang();
const listeners: Array<(l: Lang) => void> = [];

export function lang(): Lang {
  return current;
}

export function setLang(l: Lang): void {
  if (l === current) return;
  current = l;
  try {
    localStorage.setItem(STORAGE_KEY, l);
  } catch {
    /* ignore */
  }
  for (const fn of listeners) fn(l);
}

export function onLangChange(fn: (l: Lang) => void): void {
  listeners.push(fn);
}

/** Translate a key in the current (or given) language. */
export function t(key: TKey, l: Lang = current): string {
  return TRANSLATIONS[l][key] ?? TRANSLATIONS['zh-CN'][key] ?? key;
}

/** Translate a key whose text has {name} placeholders. */
export function tf(key: TKey, values: Record<string, string | number>, l: Lang = current): string {
  return t(key, l).replace(/\{(\w+)\}/g, (m, k: string) => (k in values ? String(values[k]) : m));
}

/** Translate a dynamic key like `facility.${kind}`, falling back to `${prefix}.other` or the raw value. */
export function tk(prefix: string, value: unknown, l: Lang = current): string {
  const key = `${prefix}.${String(value)}`;
  const table = TRANSLATIONS[l] as Record<string, string>;
  if (key in table) return table[key];
  const other = `${prefix}.other`;
  if (value === undefined || value === null || value === '') return table[other] ?? '';
  return String(value);
}

/** All values for a prefix (e.g. 'facility') in a language: { kind: label }. */
export function entries(prefix: string, l: Lang = current): Record<string, string> {
  const out: Record<string, string> = {};
  const table = TRANSLATIONS[l] as Record<string, string>;
  for (const k of Object.keys(table)) {
    if (k.startsWith(prefix + '.')) out[k.slice(prefix.length + 1)] = table[k];
  }
  return out;
}

/** Fill every element carrying data-i18n (text) or data-i18n-title / data-i18n-aria (attributes). */
export function applyDom(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>('[data-i18n]').forEach((el) => {
    el.textContent = t(el.dataset.i18n as TKey);
  });
  root.querySelectorAll<HTMLElement>('[data-i18n-title]').forEach((el) => {
    el.title = t(el.dataset.i18nTitle as TKey);
  });
  root.querySelectorAll<HTMLElement>('[data-i18n-aria]').forEach((el) => {
    el.setAttribute('aria-label', t(el.dataset.i18nAria as TKey));
  });
  document.documentElement.lang = current;
  document.title = t('app.title');
}
